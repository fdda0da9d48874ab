"""ModelManagerClient: pykos InferenceServiceClient's calls, plus Triton's and Launch's.

    client = ModelManagerClient("ipc:///run/edge/model_manager.sock")
    uid = client.upload_model(Path("det.onnx").read_bytes(), {"name": "det"})
    client.load_models([uid])
    outputs = client.forward(uid, {"x": image})

Errors raise edge.errors classes (`.code`, `.message`, `.details`), like Triton's
InferenceServerException. One client per thread, as with edge.Client.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from edge.client import Client
from edge.endpoints import ipc_endpoint
from edge.errors import EdgeError, FailedPrecondition, ServiceTimeout, error_from_wire
from messages import ModelInfo, ModelMetadata

from .results import (InferInput, InferRequestedOutput, InferResult, ResponseCalls,
                      infer_feeds, pick_outputs)
from .stream import ModelStream

ENDPOINT_ENV = "EDGE_MODEL_MANAGER"
CHUNK_BYTES = 4 << 20
PYKOS_KEYS = {"model_name": "name", "model_description": "description",
              "model_version": "version", "model_author": "author"}

UID_RE = re.compile(r"^[0-9a-f]{64}$")

Progress = Callable[[int, int], None]


def default_endpoint() -> str:
    """$EDGE_MODEL_MANAGER, else the well-known ipc endpoint `model_manager`."""
    return os.environ.get(ENDPOINT_ENV) or ipc_endpoint("model_manager")


QUICK_TIMEOUT_S = 10.0   # per attempt, when no timeout is stated
ADMIN_TIMEOUT_S = 120.0  # per attempt of uploads and loads, when no timeout is stated


class ModelManagerClient:
    """Every call ends within its per-attempt timeout x (retries + 1).

    Uploads, loads and downloads use `admin_timeout_s`; when it is not given, a stated
    `timeout_s` bounds them too, and with neither they get ADMIN_TIMEOUT_S.
    """

    def __init__(self, endpoint: str | None = None, *, timeout_s: float | None = None,
                 admin_timeout_s: float | None = None, retries: int = 2) -> None:
        self.endpoint = endpoint or default_endpoint()
        self.timeout_s = QUICK_TIMEOUT_S if timeout_s is None else timeout_s
        self.admin_timeout_s = (admin_timeout_s if admin_timeout_s is not None
                                else ADMIN_TIMEOUT_S if timeout_s is None else timeout_s)
        self._client = Client(self.endpoint, timeout_s=self.timeout_s, retries=retries)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ModelManagerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, body: Any = None, *, admin: bool = False, **options: Any) -> Any:
        if admin:
            options.setdefault("timeout_s", self.admin_timeout_s)
        return self._client.call(method, body, **options)

    # -- pykos ---------------------------------------------------------------------
    def upload_model(self, model_data: bytes, metadata: Any = None, *,
                     progress: Progress | None = None, chunk_bytes: int = CHUNK_BYTES) -> str:
        """Returns the uid (sha256). Above `chunk_bytes` the model goes in chunks;
        `progress(sent_bytes, total_bytes)` is called after each one."""
        data = memoryview(model_data).cast("B")
        meta = _metadata(metadata)
        if data.nbytes <= chunk_bytes:
            uid = self.call("upload_model", {"model_data": _tensor(data), "metadata": meta},
                            admin=True)["uid"]
            if progress is not None:
                progress(data.nbytes, data.nbytes)
            return uid
        return self._upload_chunked(data, meta, progress, chunk_bytes)

    def load_models(self, uids: list[str], config: Mapping[str, Any] | None = None) -> None:
        """`config`: batching and threads (ModelConfig keys), e.g. {"max_batch_size": 16}."""
        body: dict[str, Any] = {"uids": list(uids)}
        if config is not None:
            body["config"] = dict(config)
        self.call("load_models", body, admin=True)

    def unload_models(self, uids: list[str]) -> None:
        self.call("unload_models", {"uids": list(uids)}, admin=True)

    @property
    def responses(self) -> ResponseCalls:
        """pykos's calls answering responses with `.error` instead of raising."""
        return ResponseCalls(self)

    def get_models_info(self, uids: list[str] | None = None) -> list[ModelInfo]:
        body = {} if uids is None else {"uids": list(uids)}
        return [ModelInfo.from_wire(m) for m in self.call("get_models_info", body)["models"]]

    def forward(self, model_uid: str, inputs: Mapping[str, np.ndarray], *, priority: int = 0,
                timeout_s: float | None = None, version: str | None = None
                ) -> dict[str, np.ndarray]:
        """Outputs by name (read-only arrays). `model_uid` may also be a name (the newest
        version unless `version` is given). `timeout_s` is also the server-side deadline."""
        body = {**model_ref(model_uid, version), "inputs": dict(inputs)}
        return self._client.call("forward", body, priority=priority, timeout_s=timeout_s)["outputs"]

    def download_model(self, model_uid: str) -> bytes:
        """The stored model's bytes, checked against its uid (sha256)."""
        reply = self.call("download_model", {"uid": model_uid}, admin=True)
        data = memoryview(reply["model_data"]).cast("B").tobytes()
        if hashlib.sha256(data).hexdigest() != model_uid:
            raise FailedPrecondition(f"model {model_uid}: downloaded bytes do not match the uid",
                           {"uid": model_uid})
        return data

    def resolve_uid(self, uid_or_name: str, version: str | None = None) -> str:
        """A stored model's uid, given its uid, or its name (the newest version unless
        `version` is given), as the manager resolves names for every call."""
        return self.get_model_metadata(uid_or_name, version).uid

    # -- Triton ----------------------------------------------------------------------
    def infer(self, model_name: str, inputs: list[InferInput], *, model_version: str = "",
              outputs: list[InferRequestedOutput] | None = None, request_id: str = "",
              priority: int = 0, client_timeout: float | None = None) -> InferResult:
        """tritonclient's `infer`: InferInputs in, an InferResult (`as_numpy`) out."""
        got = self.forward(model_name, infer_feeds(inputs), version=model_version or None,
                           priority=priority, timeout_s=client_timeout)
        return InferResult(model_name, model_version, request_id, pick_outputs(got, outputs))

    def start_stream(self) -> ModelStream:
        """Many requests on one connection; see ModelStream."""
        return ModelStream(self.endpoint)

    def is_server_live(self, timeout_s: float = 1.0) -> bool:
        """False when nothing answers within `timeout_s`, like an unreachable server."""
        return self._health("is_server_live", "live", timeout_s)

    def is_server_ready(self, timeout_s: float = 1.0) -> bool:
        return self._health("is_server_ready", "ready", timeout_s)

    def is_model_ready(self, model: str, version: str | None = None) -> bool:
        return self.call("is_model_ready", model_ref(model, version))["ready"]

    def get_server_metadata(self) -> dict[str, Any]:
        """{name, version, extensions}."""
        return self.call("get_server_metadata")

    def get_model_metadata(self, model: str, version: str | None = None) -> ModelInfo:
        return ModelInfo.from_wire(self.call("get_model_metadata", model_ref(model, version)))

    def get_model_config(self, model: str, version: str | None = None) -> dict[str, Any]:
        """{uid, name, version, loaded, config: ModelConfig keys, batchable}."""
        return self.call("get_model_config", model_ref(model, version))

    def delete_model(self, model: str, version: str | None = None) -> None:
        """Unload the model and remove it from the repository (Launch's delete_model_bundle)."""
        self.call("delete_model", model_ref(model, version), admin=True)

    def get_model_repository_index(self) -> list[dict[str, Any]]:
        """Every stored model: {uid, name, state: READY|UNAVAILABLE, reason}."""
        return self.call("get_model_repository_index")["models"]

    def get_inference_statistics(self, uids: list[str] | None = None) -> list[dict[str, Any]]:
        body = {} if uids is None else {"uids": list(uids)}
        return self.call("get_inference_statistics", body)["models"]

    # -- Scale Launch ----------------------------------------------------------------
    def async_request(self, model_uid: str, inputs: Mapping[str, np.ndarray], *,
                      priority: int = 0, timeout_ms: int | None = None) -> str:
        """A task id at once; `timeout_ms` is the task's own deadline on the server."""
        body: dict[str, Any] = {**model_ref(model_uid), "inputs": dict(inputs)}
        if timeout_ms is not None:
            body["timeout_ms"] = timeout_ms
        return self.call("async_request", body, priority=priority)["task_id"]

    def get_async_response(self, task_id: str) -> dict[str, Any]:
        """{task_id, request_id, state: PENDING|SUCCESS|FAILURE, result? | error?}."""
        return self.call("get_async_response", {"task_id": task_id})

    def wait_async_response(self, task_id: str, timeout_s: float = 30.0,
                            poll_s: float = 0.01) -> dict[str, np.ndarray]:
        """Poll until the task is done: its outputs, or its error raised. Ends within
        `timeout_s` (+ one short poll), however slow or silent the manager is."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            reply = self.call("get_async_response", {"task_id": task_id}, retries=0,
                              timeout_s=max(0.01, min(self.timeout_s, remaining)))
            if reply["state"] == "SUCCESS":
                return reply["result"]
            if reply["state"] == "FAILURE":
                raise error_from_wire(reply["error"])
            if time.monotonic() >= deadline:
                raise ServiceTimeout(f"async task {task_id} still {reply['state']} "
                                     f"after {timeout_s:g}s")
            time.sleep(max(0.0, min(poll_s, deadline - time.monotonic())))

    # -- internals -------------------------------------------------------------------
    def _health(self, method: str, key: str, timeout_s: float) -> bool:
        try:
            return bool(self.call(method, {}, timeout_s=timeout_s, retries=0)[key])
        except ServiceTimeout:
            return False

    def _upload_chunked(self, data: memoryview, meta: dict, progress: Progress | None,
                        chunk_bytes: int) -> str:
        total = data.nbytes
        begin = {"total_bytes": total, "sha256": hashlib.sha256(data).hexdigest(), "metadata": meta}
        upload_id = self.call("begin_upload", begin, admin=True)["upload_id"]
        try:
            for offset in range(0, total, chunk_bytes):
                piece = data[offset:offset + chunk_bytes]
                self.call("upload_chunk", {"upload_id": upload_id, "offset": offset,
                                           "data": _tensor(piece)}, admin=True)
                if progress is not None:
                    progress(offset + piece.nbytes, total)
            return self.call("finish_upload", {"upload_id": upload_id}, admin=True)["uid"]
        except BaseException:
            self._abort_quietly(upload_id)
            raise

    def _abort_quietly(self, upload_id: str) -> None:
        try:
            self.call("abort_upload", {"upload_id": upload_id},
                      timeout_s=min(1.0, self.timeout_s), retries=0)
        except EdgeError:
            pass  # gone already, or the server is: its upload area is cleared on restart


def model_ref(model: str, version: str | None = None) -> dict[str, str]:
    """The body keys naming a model: `uid`, or `name` and `version`."""
    if version is None and isinstance(model, str) and _is_uid(model):
        return {"uid": model}
    return {"name": model} if version is None else {"name": model, "version": version}


@functools.lru_cache(maxsize=256)
def _is_uid(text: str) -> bool:
    """A client names the same few models again and again: the regex runs once for each."""
    return UID_RE.match(text) is not None


def _tensor(data: memoryview) -> np.ndarray:
    """Bytes as a 1-D uint8 array, so the codec sends them as their own frame, uncopied."""
    return np.frombuffer(data, dtype=np.uint8)


def _metadata(metadata: Any) -> dict:
    """ModelMetadata, a map with our keys, or pykos's `model_name`-style keys."""
    if metadata is None:
        return {}
    if isinstance(metadata, ModelMetadata):
        return metadata.to_wire()
    if isinstance(metadata, Mapping):
        return {PYKOS_KEYS.get(k, k): v for k, v in metadata.items() if v is not None}
    raise TypeError(f"metadata must be ModelMetadata or a map, got {type(metadata).__name__}")
