"""The on-disk model repository: files named by content hash, written crash-safely.

Layout under the root::

    models/<uid>.json   metadata and specs, written first
    models/<uid>.onnx   the model; its presence is what makes a model exist
    loaded.json         uids (and configs) to load again after a restart
    uploads/            chunked uploads in progress, owned by ``uploads.py``

Nothing user-supplied ever becomes part of a path: only uids that match
``UID_RE`` do, and those are hashes we computed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge.errors import FailedPrecondition
from .specs import ModelMetadata, TensorSpec

log = logging.getLogger("edge.model_manager")

UID_RE = re.compile(r"^[0-9a-f]{64}$")
TMP_PREFIX = ".tmp-"
RECORD_FORMAT = 1
HASH_CHUNK_BYTES = 1 << 20


@dataclass
class ModelRecord:
    """``problem`` is set when the stored model exists but must not be served."""

    uid: str
    metadata: ModelMetadata
    input_specs: list[TensorSpec]
    output_specs: list[TensorSpec]
    size_bytes: int
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        raw.pop("problem")
        return {"format": RECORD_FORMAT, **raw}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ModelRecord:
        if raw.get("format") != RECORD_FORMAT:
            raise ValueError(f"unknown record format {raw.get('format')!r}")
        return cls(uid=raw["uid"], metadata=ModelMetadata(**raw["metadata"]),
                   input_specs=[TensorSpec(**s) for s in raw["input_specs"]],
                   output_specs=[TensorSpec(**s) for s in raw["output_specs"]],
                   size_bytes=int(raw["size_bytes"]))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Readers see the old file or the whole new one, even across a power cut."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        while chunk := src.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


class Repository:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.models_dir = self.root / "models"
        self.uploads_dir = self.root / "uploads"
        self.loaded_path = self.root / "loaded.json"
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        self._records: dict[str, ModelRecord] = {}

    def scan(self) -> None:
        """Rebuild the index from disk, dropping debris a crash may have left."""
        self._records.clear()
        for path in sorted(self.models_dir.iterdir()):
            if path.name.startswith(TMP_PREFIX):
                path.unlink(missing_ok=True)
            elif path.suffix == ".json" and UID_RE.match(path.stem):
                if not path.with_suffix(".onnx").exists():
                    path.unlink(missing_ok=True)  # crash between the two renames
            elif path.suffix == ".onnx" and UID_RE.match(path.stem):
                self._records[path.stem] = self._check(path)
        fsync_dir(self.models_dir)

    def _check(self, model_path: Path) -> ModelRecord:
        uid = model_path.stem
        try:
            record = ModelRecord.from_json(json.loads(model_path.with_suffix(".json").read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("model %s skipped: metadata unreadable (%s)", uid, exc)
            return ModelRecord(uid, ModelMetadata(), [], [], 0, f"metadata unreadable: {exc}")
        actual = hash_file(model_path)
        if actual != uid or record.uid != uid:
            record.problem = f"corrupt: sha256 of the file is {actual}, expected {uid}"
            log.warning("model %s skipped: %s", uid, record.problem)
        return record

    def get(self, uid: str) -> ModelRecord | None:
        return self._records.get(uid) if isinstance(uid, str) else None

    def records(self) -> list[ModelRecord]:
        return list(self._records.values())

    def store(self, record: ModelRecord, data: bytes) -> None:
        self._write_record(record)
        write_atomic(self._model_path(record.uid), data)
        self._records[record.uid] = record

    def adopt(self, record: ModelRecord, complete_file: Path) -> None:
        """Move a finished upload in by rename: no second copy of a large model."""
        self._write_record(record)
        os.replace(complete_file, self._model_path(record.uid))
        fsync_dir(self.models_dir)
        fsync_dir(complete_file.parent)
        self._records[record.uid] = record

    def stored_ns(self, uid: str) -> int:
        """When the model file was stored (its mtime), to tell the newest of one name."""
        try:
            return self._model_path(uid).stat().st_mtime_ns
        except OSError:
            return 0

    def remove(self, uid: str) -> None:
        """Model file first: without it the record is debris the next scan deletes."""
        self._model_path(uid).unlink(missing_ok=True)
        (self.models_dir / f"{uid}.json").unlink(missing_ok=True)
        fsync_dir(self.models_dir)
        self._records.pop(uid, None)

    def read_model(self, uid: str) -> bytes:
        """Re-verify on every load: the file may have rotted since the scan."""
        try:
            data = self._model_path(uid).read_bytes()
        except OSError as exc:
            self._records[uid].problem = f"unreadable: {exc.strerror or exc}"
            raise FailedPrecondition(f"model {uid} cannot be read: {exc}", {"uid": uid}) from exc
        if hashlib.sha256(data).hexdigest() != uid:
            self._records[uid].problem = "corrupt: sha256 mismatch when loading"
            log.warning("model %s: %s", uid, self._records[uid].problem)
            raise FailedPrecondition(f"model {uid} is corrupt on disk: sha256 mismatch",
                                     {"uid": uid})
        return data

    def read_loaded(self) -> dict[str, dict[str, Any]]:
        try:
            raw = json.loads(self.loaded_path.read_text())
            return {uid: dict(cfg) for uid, cfg in raw["models"].items() if UID_RE.match(uid)}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable %s: %s", self.loaded_path, exc)
            return {}

    def write_loaded(self, models: dict[str, dict[str, Any]]) -> None:
        body = json.dumps({"format": 1, "models": models}, indent=1, sort_keys=True)
        write_atomic(self.loaded_path, body.encode())

    def _write_record(self, record: ModelRecord) -> None:
        body = json.dumps(record.to_json(), indent=1, sort_keys=True)
        write_atomic(self.models_dir / f"{record.uid}.json", body.encode())

    def _model_path(self, uid: str) -> Path:
        if not UID_RE.match(uid):
            raise ValueError(f"not a model uid: {uid!r}")
        return self.models_dir / f"{uid}.onnx"
