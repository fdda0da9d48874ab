"""Accepting new models: whole or in chunks, always validated before they are stored.

A model enters the repository only after onnxruntime has loaded it, so every
stored uid is something ``load_models`` can be expected to serve.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

from edge.errors import InvalidArgument, ResourceExhausted
from .onnx_model import inspect_model
from .repository import ModelRecord, Repository
from .specs import metadata_from_user
from .uploads import UploadArea

log = logging.getLogger("edge.model_manager")


class Intake:
    def __init__(self, repository: Repository, uploads: UploadArea, *, max_model_bytes: int,
                 lock: threading.RLock) -> None:
        self._repo = repository
        self._uploads = uploads
        self._max_bytes = max_model_bytes
        self._lock = lock

    def upload(self, model_data: Any, metadata: Any) -> str:
        if not isinstance(model_data, (bytes, bytearray, memoryview)):
            raise InvalidArgument(f"model_data must be bytes, got {type(model_data).__name__}")
        size = memoryview(model_data).nbytes
        if size > self._max_bytes:
            raise ResourceExhausted(f"model of {size} bytes exceeds max_model_bytes "
                                    f"{self._max_bytes}", {"max_model_bytes": self._max_bytes})
        data = bytes(model_data)
        meta = metadata_from_user(metadata)
        uid = hashlib.sha256(data).hexdigest()
        with self._lock:
            if self._healthy(uid):
                return uid  # same bytes, same model: uploading twice is not an error
            inputs, outputs = inspect_model(data)
            self._repo.store(ModelRecord(uid, meta, inputs, outputs, len(data)), data)
        log.info("stored model %s (%r, %d bytes)", uid, meta.name, len(data))
        return uid

    def begin(self, total_bytes: Any, sha256: Any, metadata: Any, client: bytes = b"") -> str:
        return self._uploads.begin(total_bytes, sha256, metadata_from_user(metadata), client)

    def chunk(self, upload_id: Any, offset: Any, data: Any) -> int:
        return self._uploads.write(upload_id, offset, data)

    def abort(self, upload_id: Any) -> None:
        self._uploads.abort(upload_id)

    def finish(self, upload_id: Any) -> str:
        upload = self._uploads.complete(upload_id)
        try:
            with self._lock:
                if self._healthy(upload.sha256):
                    return upload.sha256
                data = upload.path.read_bytes()
                inputs, outputs = inspect_model(data)
                record = ModelRecord(upload.sha256, upload.metadata, inputs, outputs, len(data))
                self._repo.adopt(record, upload.path)
        finally:
            upload.path.unlink(missing_ok=True)
        log.info("stored model %s from a chunked upload (%d bytes)", record.uid, len(data))
        return record.uid

    def _healthy(self, uid: str) -> bool:
        record = self._repo.get(uid)
        return record is not None and record.problem is None
