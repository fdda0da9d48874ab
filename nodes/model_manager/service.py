"""The model manager's command table for an edge Service (see docs/MODELS.md).

The socket thread only parses bodies and queues work. Inference is handed to the
manager's scheduler, whose workers answer through the request's Responder (a quick
model on an idle manager runs on the socket thread instead: inline.py);
uploads, loads and unloads (onnxruntime sessions, disk, fsync) run on a small
executor and answer the same way, so no method holds up the socket thread.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from edge.errors import EdgeError, InvalidArgument, Unavailable
from edge.service import Request

from .execution import ForwardResult
from .manager import ModelManager

log = logging.getLogger("edge.model_manager")

Handler = Callable[[Request], Any]

# Wire names before the one-vocabulary rename; answered for one more release.
OLD_NAMES = {"live": "is_server_live", "ready": "is_server_ready", "model_ready": "is_model_ready",
             "upload.begin": "begin_upload", "upload.chunk": "upload_chunk",
             "upload.finish": "finish_upload", "upload.abort": "abort_upload",
             "model_metadata": "get_model_metadata", "repository_index": "get_model_repository_index",
             "statistics": "get_inference_statistics"}


# what a `read` key may call (edge.security): status and metadata, nothing that changes or runs
_READ = {"is_server_live", "is_server_ready", "is_model_ready", "get_server_metadata",
         "get_models_info", "get_model_metadata", "get_model_config", "get_model_repository_index",
         "get_inference_statistics"}
READ_METHODS = frozenset(_READ | {old for old, new in OLD_NAMES.items() if new in _READ})


class ModelService:
    """Maps request bodies onto a ModelManager; serve `methods()` on any edge Service."""

    def __init__(self, manager: ModelManager, *, admin_workers: int = 2) -> None:
        self.manager = manager
        self._admin = ThreadPoolExecutor(admin_workers, thread_name_prefix="model-admin")
        self._closed = False

    def methods(self) -> dict[str, Handler]:
        """Wire names are the Python client's names (tritonclient's and pykos's)."""
        table = {
            "is_server_live": self.is_server_live, "is_server_ready": self.is_server_ready,
            "is_model_ready": self.is_model_ready, "get_server_metadata": self.get_server_metadata,
            "upload_model": self.upload_model, "begin_upload": self.begin_upload,
            "upload_chunk": self.upload_chunk, "finish_upload": self.finish_upload,
            "abort_upload": self.abort_upload, "download_model": self.download_model,
            "delete_model": self.delete_model,
            "load_models": self.load_models, "unload_models": self.unload_models,
            "get_models_info": self.get_models_info,
            "get_model_metadata": self.get_model_metadata,
            "get_model_config": self.get_model_config,
            "get_model_repository_index": self.get_model_repository_index,
            "get_inference_statistics": self.get_inference_statistics, "forward": self.forward,
            "async_request": self.async_request, "get_async_response": self.get_async_response,
        }
        return table | {old: table[new] for old, new in OLD_NAMES.items()}

    def attach(self, add: Callable[..., None]) -> None:
        """`add` is `Service.add` or `Node.serve`."""
        for name, handler in self.methods().items():
            add(name, handler, role="read" if name in READ_METHODS else "admin")

    def close(self) -> None:
        """Refuse new admin work and let what was accepted finish (and answer)."""
        self._closed = True
        self._admin.shutdown(wait=True)

    # -- health --------------------------------------------------------------------
    def is_server_live(self, request: Request) -> dict:
        return {"live": self.manager.is_server_live()}

    def is_server_ready(self, request: Request) -> dict:
        return {"ready": self.manager.is_server_ready()}

    def is_model_ready(self, request: Request) -> dict:
        uid = self._model_uid(_body(request))
        return {"uid": uid, "ready": self.manager.is_model_ready(uid)}

    def get_server_metadata(self, request: Request) -> dict:
        return self.manager.get_server_metadata()

    # -- repository: slow work, answered from the admin executor -------------------
    def upload_model(self, request: Request) -> None:
        body = _body(request)
        data, metadata = _bytes(body, "model_data"), body.get("metadata")
        self._background(request, lambda: {"uid": self.manager.upload_model(data, metadata)})

    def begin_upload(self, request: Request) -> None:
        body = _body(request)
        total, sha256, metadata = body.get("total_bytes"), body.get("sha256"), body.get("metadata")
        client = request.peer
        self._background(request, lambda: {
            "upload_id": self.manager.begin_upload(total, sha256, metadata, client)})

    def upload_chunk(self, request: Request) -> None:
        body = _body(request)
        upload_id, offset, data = body.get("upload_id"), body.get("offset"), _bytes(body, "data")
        self._background(request, lambda: {
            "received_bytes": self.manager.upload_chunk(upload_id, offset, data)})

    def finish_upload(self, request: Request) -> None:
        upload_id = _body(request).get("upload_id")
        self._background(request, lambda: {"uid": self.manager.finish_upload(upload_id)})

    def abort_upload(self, request: Request) -> None:
        upload_id = _body(request).get("upload_id")
        self._background(request, lambda: self.manager.abort_upload(upload_id) or {})

    def download_model(self, request: Request) -> None:
        """The model's bytes as a 1-D uint8 tensor (its own frame), read off the socket thread."""
        uid = self._model_uid(_body(request))

        def work() -> dict:
            data, metadata = self.manager.download_model(uid)
            return {"uid": uid, "model_data": np.frombuffer(data, dtype=np.uint8),
                    "metadata": metadata.to_wire()}

        self._background(request, work)

    def load_models(self, request: Request) -> None:
        body = _body(request)
        uids, config = self._uids(body, required=True), body.get("config")
        self._background(request, lambda: self.manager.load_models(uids, config=config)
                         or {"loaded": uids})

    def unload_models(self, request: Request) -> None:
        uids = self._uids(_body(request), required=True)
        self._background(request, lambda: self.manager.unload_models(uids) or {"unloaded": uids})

    def delete_model(self, request: Request) -> None:
        uid = self._model_uid(_body(request))
        self._background(request, lambda: self.manager.delete_model(uid) or {"deleted": uid})

    # -- repository: quick reads ---------------------------------------------------
    def get_models_info(self, request: Request) -> dict:
        return {"models": self.manager.get_models_info(self._uids(_body(request)))}

    def get_model_metadata(self, request: Request) -> Any:
        return self.manager.get_model_metadata(self._model_uid(_body(request)))

    def get_model_config(self, request: Request) -> dict:
        return self.manager.get_model_config(self._model_uid(_body(request)))

    def get_model_repository_index(self, request: Request) -> dict:
        return {"models": self.manager.get_model_repository_index()}

    def get_inference_statistics(self, request: Request) -> dict:
        return {"models": self.manager.get_inference_statistics(self._uids(_body(request)))}

    # -- inference -------------------------------------------------------------------
    def forward(self, request: Request) -> dict | None:
        """Validated now. A quick model on an idle manager runs here and is answered at
        once; otherwise the reply comes from a worker thread when the run is done."""
        body = _body(request)
        uid, inputs = self._model_uid(body), body.get("inputs")
        request_id = str(request.id)

        def on_queued() -> Callable[[Any], None]:
            responder = request.defer()

            def on_done(value: Any) -> None:
                if isinstance(value, ForwardResult):
                    responder.reply({"request_id": request_id, "uid": uid,
                                     "outputs": value.outputs})
                else:
                    responder.fail(value)
            return on_done

        # More requests waiting: hand off and keep the pipeline going. Asked only when this
        # one could otherwise run here (it reads the socket's events).
        value = self.manager.forward_or_submit(
            uid, inputs, on_queued=on_queued, request_id=request_id,
            priority=request.priority, deadline_ns=request.deadline_ns,
            inline=lambda: not request.others_waiting)
        if value is None:
            return None
        if not isinstance(value, ForwardResult):
            raise value
        return {"request_id": request_id, "uid": uid, "outputs": value.outputs}

    def async_request(self, request: Request) -> dict:
        """The header's timeout bounds this call only; the task's own is `timeout_ms`."""
        body = _body(request)
        uid, inputs, timeout_ms = self._model_uid(body), body.get("inputs"), body.get("timeout_ms")
        if timeout_ms is not None and (type(timeout_ms) is not int or timeout_ms < 0):
            raise InvalidArgument(f"timeout_ms must be a non-negative integer, got {timeout_ms!r}",
                                  {"key": "timeout_ms"})
        deadline_ns = None if timeout_ms is None else time.monotonic_ns() + timeout_ms * 1_000_000
        task_id = self.manager.async_request(uid, inputs, request_id=str(request.id),
                                             priority=request.priority, deadline_ns=deadline_ns)
        return {"task_id": task_id, "request_id": str(request.id)}

    def get_async_response(self, request: Request) -> dict:
        return self.manager.get_async_response(_str(_body(request), "task_id"))

    # -- internals -------------------------------------------------------------------
    def _model_uid(self, body: dict) -> str:
        """`uid`, or `name` with an optional `version` (the newest when omitted)."""
        if "name" in body:
            return self.manager.resolve_model(_str(body, "name"), body.get("version"))
        return _str(body, "uid")

    def _uids(self, body: dict, required: bool = False) -> list[str] | None:
        """Each entry a uid or a name (its newest version)."""
        uids = _uids(body, required)
        return None if uids is None else [self.manager.resolve_model(u) for u in uids]

    def _background(self, request: Request, work: Callable[[], Any]) -> None:
        if self._closed:
            raise Unavailable("the model manager is shutting down")
        responder = request.defer()

        def run() -> None:
            try:
                responder.reply(work())
            except Exception as exc:  # every failure becomes a reply
                if not isinstance(exc, EdgeError):
                    log.exception("%s failed", request.method)
                responder.fail(exc)

        try:
            self._admin.submit(run)
        except RuntimeError:  # shut down between the check and the submit
            raise Unavailable("the model manager is shutting down") from None


def _body(request: Request) -> dict:
    body = request.body
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidArgument(f"{request.method} needs a map body, got {type(body).__name__}")
    return body


def _str(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise InvalidArgument(f"{key!r} must be a string, got {type(value).__name__}",
                              {"key": key})
    return value


def _uids(body: dict, required: bool = False) -> list[str] | None:
    uids = body.get("uids")
    if uids is None and not required:
        return None
    if not isinstance(uids, list) or not all(isinstance(u, str) for u in uids):
        raise InvalidArgument("'uids' must be a list of strings", {"key": "uids"})
    return uids


def _bytes(body: dict, key: str) -> Any:
    """Binary payloads come as msgpack bin or, zero-copy, as a 1-D uint8 tensor."""
    value = body.get(key)
    if isinstance(value, np.ndarray):
        if value.dtype != np.uint8 or value.ndim != 1:
            raise InvalidArgument(f"{key!r} as a tensor must be 1-D uint8, got "
                                  f"{value.dtype} {list(value.shape)}", {"key": key})
        return memoryview(value)
    if not isinstance(value, bytes):
        raise InvalidArgument(f"{key!r} must be bytes, got {type(value).__name__}",
                              {"key": key})
    return value
