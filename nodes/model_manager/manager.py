"""The model manager's API: pykos semantics plus Triton's and Scale Launch's extras.

Every method returns promptly: inference is queued here and runs on the
scheduler's workers, which report through ``on_done``; only ``forward_or_submit``
may run a quick model's request on the caller's thread, when nothing else runs. Upload, finish and
load do their validation in the caller's thread; their cost grows with model
size, not with inference load.
"""
from __future__ import annotations

import importlib.metadata
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import (DeadlineExceeded, EdgeError, FailedPrecondition, InvalidArgument,
                         NotFound)
from nodes.inference.onnx_model import batchable
from .batching import ModelQueue
from .config import ManagerConfig, ModelConfig
from .execution import ForwardResult, LoadedModel
from .inputs import make_request
from .naming import find_model, quoted
from .intake import Intake
from .inline import QuickRuns
from .onnx_model import open_session
from .repository import ModelRecord, Repository
from .specs import ModelInfo, ModelMetadata
from .stats import ModelStats
from .scheduler import Scheduler
from .tasks import TaskStore
from .uploads import UploadArea

log = logging.getLogger("edge.model_manager")

OnDone = Callable[[Any], None]
SERVER_NAME = "edge-runtime model manager"


class ModelManager:
    """Safe to call from any thread; admin calls are serialized by one lock so a
    load never races an upload of the same uid."""

    def __init__(self, repo_dir: str | os.PathLike[str],
                 config: ManagerConfig | None = None) -> None:
        self.config = config or ManagerConfig()
        self._admin = threading.RLock()
        self._repo = Repository(repo_dir)
        self._repo.scan()
        self._uploads = UploadArea(
            self._repo.uploads_dir, max_bytes=self.config.max_model_bytes,
            max_uploads=self.config.max_uploads, ttl_s=self.config.upload_ttl_s,
            max_uploads_per_client=self.config.max_uploads_per_client)
        self._intake = Intake(self._repo, self._uploads, max_model_bytes=self.config.max_model_bytes,
                              lock=self._admin)
        self._tasks = TaskStore(max_tasks=self.config.max_tasks, ttl_s=self.config.task_ttl_s)
        self._stats: dict[str, ModelStats] = {}
        self._load_errors: dict[str, str] = {}
        self._scheduler = Scheduler(self.config.workers)
        self._closed = False
        self._restore()

    @property
    def repo_dir(self) -> Path:
        return self._repo.root

    def close(self, timeout_s: float = 5.0) -> None:
        """Queued requests are answered UNAVAILABLE, from this thread once the workers
        have stopped (or ``timeout_s`` passed); a run in progress may finish first."""
        self._closed = True
        self._uploads.close()
        self._scheduler.close(timeout_s)

    def __enter__(self) -> ModelManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- health (Triton) ------------------------------------------------------------
    def is_server_live(self) -> bool:
        return not self._closed

    def is_server_ready(self) -> bool:
        return not self._closed and self._scheduler.running

    def is_model_ready(self, uid: str) -> bool:
        return isinstance(uid, str) and self._scheduler.get(uid) is not None

    def get_server_metadata(self) -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": _package_version(), "extensions": []}

    # -- repository -----------------------------------------------------------------
    def resolve_model(self, name_or_uid: str, version: str | None = None) -> str:
        """A uid from a uid, or from a metadata name and version (newest when omitted)."""
        return find_model(self._repo.records(), name_or_uid, version, self._repo.stored_ns)

    def upload_model(self, model_data: bytes, metadata: Any = None) -> str:
        return self._intake.upload(model_data, metadata)

    def begin_upload(self, total_bytes: int, sha256: str, metadata: Any = None,
                     client: bytes = b"") -> str:
        """`client` (the peer's identity) has its own quota of open uploads."""
        return self._intake.begin(total_bytes, sha256, metadata, client)

    def upload_chunk(self, upload_id: str, offset: int, data: bytes) -> int:
        """Returns the bytes received so far; resending a chunk is harmless."""
        return self._intake.chunk(upload_id, offset, data)

    def finish_upload(self, upload_id: str) -> str:
        return self._intake.finish(upload_id)

    def abort_upload(self, upload_id: str) -> None:
        self._intake.abort(upload_id)

    def load_models(self, uids: Iterable[str], *,
                    config: ModelConfig | dict[str, Any] | None = None) -> None:
        """All or nothing: if one model fails, those newly loaded by this call are unloaded.

        A loaded model given a different config is reloaded, and requests queued
        on the old instance are answered UNAVAILABLE; the same config is a no-op.
        """
        wanted = _uid_list(uids)
        cfg = self.config.default_model_config if config is None else ModelConfig.from_dict(config)
        with self._admin:
            for uid in wanted:
                _check_batching(self._require(uid), cfg)
            fresh: list[str] = []
            try:
                for uid in wanted:
                    if self._scheduler.get(uid) is None:
                        fresh.append(uid)
                    self._load_one(uid, cfg)
            except EdgeError:
                for uid in fresh:
                    self._scheduler.remove(uid)
                raise
            finally:
                self._persist_loaded()

    def unload_models(self, uids: Iterable[str]) -> None:
        """Unloading a model that is not loaded is a no-op; an unknown uid is not."""
        wanted = _uid_list(uids)
        with self._admin:
            for uid in wanted:
                if self._repo.get(uid) is None:
                    raise NotFound(f"no model with uid {quoted(uid)}", {"uid": uid})
            for uid in wanted:
                if self._scheduler.remove(uid) is not None:
                    log.info("unloaded model %s", uid)
            self._persist_loaded()

    def delete_model(self, uid: str) -> None:
        """Unload (queued requests answer UNAVAILABLE) and remove the stored files."""
        with self._admin:
            if self._repo.get(uid) is None:
                raise NotFound(f"no model with uid {quoted(uid)}", {"uid": uid})
            self._scheduler.remove(uid)
            self._persist_loaded()
            self._repo.remove(uid)
            self._stats.pop(uid, None)
            self._load_errors.pop(uid, None)
        log.info("deleted model %s", uid)

    def get_model_config(self, uid: str) -> dict[str, Any]:
        """The config a loaded model runs with (else the default one), and whether it can batch."""
        record = self._require(uid)
        model = self._scheduler.get(uid)
        config = model.config if model is not None else self.config.default_model_config
        return {"uid": uid, "name": record.metadata.name, "version": record.metadata.version,
                "loaded": model is not None, "config": config.to_dict(),
                "batchable": batchable(record.input_specs, record.output_specs)}

    def get_models_info(self, uids: Iterable[str] | None = None) -> list[ModelInfo]:
        if uids is None:
            records = [r for r in self._repo.records() if r.problem is None]
            records.sort(key=lambda r: (r.metadata.name, r.uid))
        else:
            records = [self._require(uid) for uid in _uid_list(uids)]
        return [ModelInfo(r.uid, r.metadata, r.input_specs, r.output_specs,
                          self._scheduler.get(r.uid) is not None) for r in records]

    def download_model(self, uid: str) -> tuple[bytes, ModelMetadata]:
        """The stored bytes (sha256-checked on read) and metadata of a servable model."""
        record = self._require(uid)
        return self._repo.read_model(record.uid), record.metadata

    def get_model_metadata(self, uid: str) -> ModelInfo:
        return self.get_models_info([uid])[0]

    def get_model_repository_index(self) -> list[dict[str, Any]]:
        """Every stored model, including ones that cannot be served and why."""
        index = []
        for record in sorted(self._repo.records(), key=lambda r: r.uid):
            ready = self._scheduler.get(record.uid) is not None
            reason = record.problem or self._load_errors.get(record.uid) or (
                "" if ready else "not loaded")
            index.append({"uid": record.uid, "name": record.metadata.name,
                          "state": "READY" if ready else "UNAVAILABLE", "reason": reason})
        return index

    def get_inference_statistics(self, uids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        if uids is None:
            wanted = sorted(r.uid for r in self._repo.records() if r.problem is None)
        else:
            wanted = [self._require(uid).uid for uid in _uid_list(uids)]
        return [self._stats_for(uid).snapshot() for uid in wanted]

    # -- inference ------------------------------------------------------------------
    def submit_forward(self, uid: str, inputs: dict[str, np.ndarray], *, on_done: OnDone,
                       request_id: str = "", priority: int = 0,
                       deadline_ns: int | None = None) -> None:
        """Queue a request and return at once.

        Errors found now (unknown uid, bad inputs, full queue, deadline already
        past) are raised here and ``on_done`` is never called. Otherwise
        ``on_done`` is called exactly once, from a worker thread (from the
        closing thread if ``close`` drops the request), with a
        ``ForwardResult`` or an ``EdgeError``. ``deadline_ns`` is a
        ``time.monotonic_ns()`` instant; higher ``priority`` runs first.
        """
        model = self._loaded(uid)
        try:
            request = make_request(model.input_specs, model.queue.batching, inputs, on_done,
                                   request_id=request_id, priority=priority,
                                   deadline_ns=deadline_ns, accepted=model.accepted_inputs)
            self._scheduler.submit(model, request)
        except EdgeError as exc:
            model.stats.record_failure(exc.code)
            raise

    def forward_or_submit(self, uid: str, inputs: dict[str, np.ndarray], *,
                          on_queued: Callable[[], OnDone], request_id: str = "",
                          priority: int = 0, deadline_ns: int | None = None,
                          inline: bool | Callable[[], bool] = True) -> Any:
        """Like ``submit_forward``, but an idle manager runs a quick model's request now,
        on this thread (see inline.py), and returns its ForwardResult or EdgeError.

        ``inline=False`` (e.g. more requests wait behind this one) always queues; a
        callable is asked only when the request could otherwise run inline.
        Otherwise ``on_queued()`` is called (on this thread) for the ``on_done`` of the
        queued request, and None is returned; errors found at once are raised.
        """
        model = self._loaded(uid)
        try:
            request = make_request(model.input_specs, model.queue.batching, inputs, _not_yet,
                                   request_id=request_id, priority=priority,
                                   deadline_ns=deadline_ns, accepted=model.accepted_inputs)
            value = self._scheduler.run_inline(model, request, inline) if inline else None
            if value is not None:
                return value
            request.on_done = on_queued()
            self._scheduler.submit(model, request)
        except EdgeError as exc:
            model.stats.record_failure(exc.code)
            raise
        return None

    def forward(self, uid: str, inputs: dict[str, np.ndarray], *, request_id: str = "",
                priority: int = 0, deadline_ns: int | None = None,
                timeout_s: float = 30.0) -> dict[str, np.ndarray]:
        """Blocking convenience for tests and scripts; a socket thread must not call it."""
        done = threading.Event()
        box: list[Any] = []

        def on_done(value: Any) -> None:
            box.append(value)
            done.set()

        self.submit_forward(uid, inputs, on_done=on_done, request_id=request_id,
                            priority=priority, deadline_ns=deadline_ns)
        if not done.wait(timeout_s):
            raise DeadlineExceeded(f"no result from model {uid} within {timeout_s} s")
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0].outputs

    def async_request(self, uid: str, inputs: dict[str, np.ndarray], *, request_id: str = "",
                      priority: int = 0, deadline_ns: int | None = None) -> str:
        """Scale Launch style: a task id now, the outcome from ``get_async_response``."""
        task_id = self._tasks.create(request_id if isinstance(request_id, str) else "")

        def on_done(value: Any) -> None:
            outcome = value.outputs if isinstance(value, ForwardResult) else value
            self._tasks.complete(task_id, outcome)

        try:
            self.submit_forward(uid, inputs, on_done=on_done, request_id=request_id,
                                priority=priority, deadline_ns=deadline_ns)
        except BaseException:
            self._tasks.discard(task_id)
            raise
        return task_id

    def get_async_response(self, task_id: str) -> dict[str, Any]:
        """``{task_id, request_id, state}`` plus ``result`` or ``error{code, message}``."""
        return self._tasks.get(task_id)

    # -- internals ------------------------------------------------------------------
    def _require(self, uid: Any) -> ModelRecord:
        if not isinstance(uid, str):
            raise InvalidArgument(f"uid must be a string, got {type(uid).__name__}")
        record = self._repo.get(uid)
        if record is None:
            raise NotFound(f"no model with uid {quoted(uid)}", {"uid": uid})
        if record.problem is not None:
            raise FailedPrecondition(f"model {uid} cannot be used: {record.problem}",
                                     {"uid": uid, "reason": record.problem})
        return record

    def _loaded(self, uid: Any) -> LoadedModel:
        model = self._scheduler.get(uid) if isinstance(uid, str) else None
        if model is None:
            self._require(uid)
            raise FailedPrecondition(f"model {uid} is not loaded; call load_models first",
                                     {"uid": uid})
        return model

    def _load_one(self, uid: str, config: ModelConfig) -> None:
        current = self._scheduler.get(uid)
        if current is not None and current.config == config:
            return
        record = self._require(uid)
        session = open_session(self._repo.read_model(uid), config)
        queue = ModelQueue(config, batchable(record.input_specs, record.output_specs))
        quick = QuickRuns(config.inline_max_us, cpu_clock=config.intra_op_threads == 1)
        model = LoadedModel(uid, session, record.input_specs,
                            [s.name for s in record.output_specs], config, queue,
                            self._stats_for(uid), quick)
        if current is not None:
            self._scheduler.remove(uid)
        self._scheduler.add(model)
        self._load_errors.pop(uid, None)
        log.info("loaded model %s (%r)", uid, record.metadata.name)

    def _restore(self) -> None:
        for uid, raw in self._repo.read_loaded().items():
            try:
                config = ModelConfig.from_dict(raw)
                with self._admin:
                    _check_batching(self._require(uid), config)
                    self._load_one(uid, config)
            except EdgeError as exc:
                self._load_errors[uid] = f"not restored after restart: {exc}"
                log.warning("model %s was loaded before the restart but is not now: %s",
                            uid, exc)

    def _persist_loaded(self) -> None:
        loaded = {r.uid: m.config.to_dict() for r in self._repo.records()
                  if (m := self._scheduler.get(r.uid)) is not None}
        self._repo.write_loaded(loaded)

    def _stats_for(self, uid: str) -> ModelStats:
        return self._stats.setdefault(uid, ModelStats(uid))


def _not_yet(value: Any) -> None:
    raise AssertionError("on_done is set before the request is queued")


def _uid_list(uids: Any) -> list[str]:
    if isinstance(uids, (str, bytes)) or not isinstance(uids, Iterable):
        raise InvalidArgument("uids must be a list of strings")
    wanted = list(uids)
    for uid in wanted:
        if not isinstance(uid, str):
            raise InvalidArgument(f"uids must be strings, got {type(uid).__name__}")
    return wanted


def _check_batching(record: ModelRecord, config: ModelConfig) -> None:
    if config.batching and not batchable(record.input_specs, record.output_specs):
        raise InvalidArgument(
            f"model {record.uid} cannot be batched (max_batch_size {config.max_batch_size}): "
            "the first dim of every input and output must be dynamic",
            {"uid": record.uid, "key": "max_batch_size"})


def _package_version() -> str:
    try:
        return importlib.metadata.version("edge-runtime")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
