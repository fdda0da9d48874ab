"""The model manager as a process: a node type for launch files, and a standalone server.

Under a launch file it answers on the node's own service endpoint (next to
param.get/stats), or on `endpoint` when one is set so clients can find it at a
well-known address; `edge model serve` runs the same service without a graph.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import zmq

from edge.endpoints import ipc_listening
from edge.errors import FailedPrecondition, Unavailable
from edge.nodetype import NodeType, Param
from edge.service import Service
from edge.signals import StopSignals

from .config import ManagerConfig, default_repo_dir
from .frontends import open_grpc
from .manager import ModelManager
from .service import ModelService

log = logging.getLogger("edge.model_manager")

DEFAULTS = ManagerConfig()


class ModelManagerNode(NodeType):
    """Stores ONNX models and serves inference on them over ZeroMQ requests."""

    parameters = {
        "repo": Param(str, default="", help="model repository directory "
                      "(default $EDGE_MODEL_REPO or ~/.local/share/edge/models)"),
        "endpoint": Param(str, default="", help="serve here instead of the node's service endpoint"),
        "workers": Param(int, default=DEFAULTS.workers, help="inference worker threads"),
        "admin_workers": Param(int, default=2, help="threads for uploads and loads"),
        "max_model_bytes": Param(int, default=DEFAULTS.max_model_bytes),
        "max_uploads": Param(int, default=DEFAULTS.max_uploads, help="chunked uploads at once"),
        "max_uploads_per_client": Param(int, default=DEFAULTS.max_uploads_per_client,
                                        help="chunked uploads one client may keep open"),
        "upload_ttl_s": Param(float, default=DEFAULTS.upload_ttl_s),
        "max_tasks": Param(int, default=DEFAULTS.max_tasks, help="async tasks kept"),
        "task_ttl_s": Param(float, default=DEFAULTS.task_ttl_s),
        "grpc": Param(str, default="", help="also serve Triton's and pykos's gRPC inference "
                      "services on HOST:PORT (needs the 'grpc' extra)"),
    }

    def run(self, node) -> None:
        params = dict(node.params)
        hosted = HostedManager(params)
        own = None
        try:
            if params.get("endpoint"):
                own = bind_service(params["endpoint"], node.name)
                hosted.service.attach(own.add)
                own.start()
                log.info("model manager %s serving on %s", node.name, own.endpoint)
            else:
                hosted.service.attach(node.serve)
            if hosted.grpc is not None:
                log.info("model manager %s: gRPC on %s", node.name, hosted.grpc_address)
            for event in node:
                if event.kind == "stop":
                    break
        finally:
            hosted.close()
            if own is not None:
                own.close()


class HostedManager:
    """A manager, its command table and an exclusive lock on its repository.

    Two managers on one repository would wipe each other's uploads and race on
    loaded.json; the lock (flock, so kill -9 releases it) makes the second one fail.
    """

    def __init__(self, params: dict) -> None:
        keys = ("workers", "max_model_bytes", "max_uploads", "max_uploads_per_client",
                "upload_ttl_s", "max_tasks", "task_ttl_s")
        config = ManagerConfig(**{k: params[k] for k in keys if params.get(k) is not None})
        self.repo_dir = Path(params.get("repo") or default_repo_dir()).expanduser()
        self._lock = _lock_repository(self.repo_dir)
        try:
            self.manager = ModelManager(self.repo_dir, config)
        except BaseException:
            os.close(self._lock)
            raise
        self.service = ModelService(self.manager, admin_workers=params.get("admin_workers") or 2)
        self.grpc = None
        if params.get("grpc"):
            try:
                self.grpc = open_grpc(self.manager, params["grpc"])
            except BaseException:
                self.close()
                raise

    @property
    def grpc_address(self) -> str:
        return self.grpc.address if self.grpc is not None else ""

    def close(self) -> None:
        """Queued requests are answered (UNAVAILABLE) while the sockets still exist."""
        if self.grpc is not None:
            self.grpc.close()
        self.service.close()
        self.manager.close()
        os.close(self._lock)


def bind_service(endpoint: str, name: str) -> Service:
    _check_unserved(endpoint)
    try:
        return Service(endpoint, name=name)
    except zmq.ZMQError as exc:
        raise Unavailable(f"cannot serve on {endpoint}: {exc}") from None


def serve_standalone(params: dict, endpoint: str,
                     on_ready: Callable[[str, Path, str], None] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit code (130 or 143, as a supervisor expects)."""
    own = bind_service(endpoint, "model_manager")  # first: a failed bind touches nothing
    stop = threading.Event()
    received: list[int] = []

    def on_stop(signum: int | None) -> None:
        received.append(signum or 0)
        stop.set()

    signals = StopSignals(on_stop)
    try:
        hosted = HostedManager(params)
    except BaseException:
        signals.close()
        own.close()
        raise
    try:
        hosted.service.attach(own.add)
        if on_ready is not None:
            on_ready(own.endpoint, hosted.repo_dir, hosted.grpc_address)
        own.serve(stop)
    finally:
        signals.close()
        hosted.close()
        own.close()
    return 128 + received[0] if received and received[0] else 0


def _lock_repository(repo_dir: Path) -> int:
    repo_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(repo_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FailedPrecondition(f"repository {repo_dir} is in use by another model "
                                 "manager") from None
    return fd


def _check_unserved(endpoint: str) -> None:
    """ZeroMQ lets a second bind take over an ipc path; refuse instead of stealing it."""
    if not ipc_listening(endpoint):
        return  # not ipc, nothing there, or a stale file a dead process left behind
    raise FailedPrecondition(f"something already serves {endpoint}; stop it or choose "
                             "another --endpoint")
