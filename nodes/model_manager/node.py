"""The model manager as a process: a node type for launch files, and a standalone server.

Under a launch file it answers on the node's own service endpoint (next to
param.get/stats), or on `endpoint` when one is set so clients can find it at a
well-known address; `edge model serve` runs the same service without a graph.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from edge.nodetype import NodeType, Param
from edge.service import Service
from edge.signals import StopSignals

from .config import ManagerConfig, default_repo_dir
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
        "upload_ttl_s": Param(float, default=DEFAULTS.upload_ttl_s),
        "max_tasks": Param(int, default=DEFAULTS.max_tasks, help="async tasks kept"),
        "task_ttl_s": Param(float, default=DEFAULTS.task_ttl_s),
    }

    def run(self, node) -> None:
        params = dict(node.params)
        manager, service = open_manager(params)
        own = None
        try:
            if params.get("endpoint"):
                own = Service(params["endpoint"], name=node.name)
                service.attach(own.add)
                own.start()
                log.info("model manager %s serving on %s", node.name, own.endpoint)
            else:
                service.attach(node.serve)
            for event in node:
                if event.kind == "stop":
                    break
        finally:
            close_all(manager, service, own)


def open_manager(params: dict) -> tuple[ModelManager, ModelService]:
    """A manager and its command table from node parameters (unset keys: defaults)."""
    keys = ("workers", "max_model_bytes", "max_uploads", "upload_ttl_s", "max_tasks", "task_ttl_s")
    config = ManagerConfig(**{k: params[k] for k in keys if params.get(k) is not None})
    repo = Path(params.get("repo") or default_repo_dir()).expanduser()
    manager = ModelManager(repo, config)
    return manager, ModelService(manager, admin_workers=params.get("admin_workers") or 2)


def close_all(manager: ModelManager, service: ModelService, own: Service | None) -> None:
    """Answer what is queued while the socket still exists, then close it."""
    service.close()
    manager.close()
    if own is not None:
        own.close()


def serve_standalone(params: dict, endpoint: str,
                     on_ready: Callable[[str, Path], None] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit code (130 or 143, as a supervisor expects)."""
    manager, service = open_manager(params)
    stop = threading.Event()
    received: list[int] = []

    def on_stop(signum: int | None) -> None:
        received.append(signum or 0)
        stop.set()

    signals = StopSignals(on_stop)
    own = Service(endpoint, name="model_manager")
    try:
        service.attach(own.add)
        if on_ready is not None:
            on_ready(own.endpoint, manager.repo_dir)
        own.serve(stop)
    finally:
        signals.close()
        close_all(manager, service, own)
    return 128 + received[0] if received and received[0] else 0
