"""Chunked uploads: large models arrive in pieces, possibly retried, possibly never finished.

Parts live in their own directory, which the repository never scans, so an
upload cut short by ``kill -9`` can never look like a model; the directory is
emptied whenever a manager starts.

Abandoned uploads cannot block others: each client (its routing identity) may keep
``max_uploads_per_client`` open, a timer drops uploads idle for ``ttl_s``, and when
every slot is taken the longest-idle upload quiet for ``EVICT_IDLE_S`` makes room.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from .repository import hash_file
from .specs import ModelMetadata

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
EVICT_IDLE_S = 10.0  # an upload this quiet gives its slot to a new one when all are taken


@dataclass
class Upload:
    upload_id: str
    total_bytes: int
    sha256: str
    metadata: ModelMetadata
    path: Path
    touched_s: float
    client: bytes = b""
    received: list[tuple[int, int]] = field(default_factory=list)  # merged [start, end)

    @property
    def received_bytes(self) -> int:
        return sum(end - start for start, end in self.received)

    def first_gap(self) -> int | None:
        if not self.received or self.received[0][0] > 0:
            return 0
        end = self.received[0][1]
        return None if end >= self.total_bytes else end

    def mark(self, start: int, end: int) -> None:
        spans = sorted([*self.received, (start, end)])
        merged = [spans[0]]
        for lo, hi in spans[1:]:
            if lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        self.received = merged


class UploadArea:
    def __init__(self, directory: Path, *, max_bytes: int, max_uploads: int, ttl_s: float,
                 max_uploads_per_client: int = 2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._dir = directory
        self._max_bytes = max_bytes
        self._max_uploads = max_uploads
        self._per_client = max_uploads_per_client
        self._ttl_s = ttl_s
        self._clock = clock
        self._uploads: dict[str, Upload] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._sweeper: threading.Thread | None = None  # runs while uploads are open
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        self._closed.set()

    def begin(self, total_bytes: int, sha256: str, metadata: ModelMetadata,
              client: bytes = b"") -> str:
        if isinstance(total_bytes, bool) or not isinstance(total_bytes, int) or total_bytes < 1:
            raise InvalidArgument(f"total_bytes must be a positive integer, got {total_bytes!r}")
        if total_bytes > self._max_bytes:
            raise ResourceExhausted(
                f"model of {total_bytes} bytes exceeds max_model_bytes {self._max_bytes}")
        if not isinstance(sha256, str) or not SHA256_RE.match(sha256.lower()):
            raise InvalidArgument("sha256 must be 64 hexadecimal characters")
        with self._lock:
            self._expire()
            self._make_room(client)
            upload_id = secrets.token_hex(16)
            path = self._dir / f"{upload_id}.part"
            with open(path, "wb") as part:
                part.truncate(total_bytes)
            self._uploads[upload_id] = Upload(upload_id, total_bytes, sha256.lower(), metadata,
                                              path, self._clock(), client)
            self._start_sweeper()
            return upload_id

    def _make_room(self, client: bytes) -> None:
        mine = sum(1 for u in self._uploads.values() if u.client == client)
        if mine >= self._per_client:
            raise ResourceExhausted(f"this client has {mine} uploads in progress "
                                    "(max_uploads_per_client); finish or abort one")
        if len(self._uploads) < self._max_uploads:
            return
        oldest = min(self._uploads.values(), key=lambda u: u.touched_s)
        if self._clock() - oldest.touched_s < min(self._ttl_s, EVICT_IDLE_S):
            raise ResourceExhausted(
                f"{len(self._uploads)} uploads already in progress (max_uploads)")
        self._drop(oldest)

    def _start_sweeper(self) -> None:
        if self._sweeper is None and not self._closed.is_set():
            self._sweeper = threading.Thread(target=self._sweep, name="upload-expiry",
                                             daemon=True)
            self._sweeper.start()

    def _sweep(self) -> None:
        """Expire idle uploads by a timer, not only when the next one begins."""
        period_s = min(max(self._ttl_s / 4, 0.05), 5.0)
        while not self._closed.wait(period_s):
            with self._lock:
                self._expire()
                if not self._uploads:
                    self._sweeper = None
                    return

    def write(self, upload_id: str, offset: int, data: bytes) -> int:
        """Overwrites are allowed so a retried chunk is harmless; the final hash decides."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidArgument(f"chunk data must be bytes, got {type(data).__name__}")
        with self._lock:
            upload = self._get(upload_id)
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
                raise InvalidArgument(f"offset must be a non-negative integer, got {offset!r}")
            end = offset + len(data)
            if end > upload.total_bytes:
                raise InvalidArgument(f"chunk [{offset}, {end}) runs past total_bytes "
                                      f"{upload.total_bytes}", {"upload_id": upload_id})
            fd = os.open(upload.path, os.O_WRONLY)
            try:
                os.pwrite(fd, data, offset)
            finally:
                os.close(fd)
            if data:
                upload.mark(offset, end)
            upload.touched_s = self._clock()
            return upload.received_bytes

    def complete(self, upload_id: str) -> Upload:
        """Hand over a fully received, hash-checked part; the caller owns the file after."""
        with self._lock:
            upload = self._get(upload_id)
            gap = upload.first_gap()
            if gap is not None:
                raise FailedPrecondition(
                    f"upload incomplete: received {upload.received_bytes} of "
                    f"{upload.total_bytes} bytes; missing data at offset {gap}",
                    {"upload_id": upload_id, "offset": gap})
            del self._uploads[upload_id]
        with open(upload.path, "rb+") as part:
            os.fsync(part.fileno())
        actual = hash_file(upload.path)
        if actual != upload.sha256:
            upload.path.unlink(missing_ok=True)
            raise InvalidArgument(f"sha256 mismatch: declared {upload.sha256}, received data "
                                  f"hashes to {actual}; upload discarded")
        return upload

    def abort(self, upload_id: str) -> None:
        with self._lock:
            upload = self._get(upload_id)
            del self._uploads[upload_id]
        upload.path.unlink(missing_ok=True)

    def _get(self, upload_id: str) -> Upload:
        upload = self._uploads.get(upload_id) if isinstance(upload_id, str) else None
        if upload is None:
            raise NotFound(f"no upload in progress with id {upload_id!r} (finished, aborted, "
                           f"or dropped after {self._ttl_s:g} s without a chunk)")
        return upload

    def _expire(self) -> None:
        cutoff = self._clock() - self._ttl_s
        for upload in [u for u in self._uploads.values() if u.touched_s < cutoff]:
            self._drop(upload)

    def _drop(self, upload: Upload) -> None:
        del self._uploads[upload.upload_id]
        upload.path.unlink(missing_ok=True)
