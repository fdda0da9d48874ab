"""Per-model inference statistics with Triton's names and meanings.

``inference_count`` counts rows (batch items), ``execution_count`` counts
onnxruntime runs, so ``inference_count / execution_count`` is the mean batch
size and shows whether dynamic batching coalesced anything. Map keys are
strings (``batch_sizes`` too): msgpack decoders reject other keys by default.
``inline_count`` (ours) counts the runs done on the socket thread (nodes/model_manager/inline.py).
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

KEYS = ("success_count", "failure_count", "inference_count", "execution_count", "inline_count",
        "request_ns", "queue_ns", "compute_input_ns", "compute_infer_ns", "compute_output_ns")


class ModelStats:
    def __init__(self, uid: str) -> None:
        self.uid = uid
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(KEYS, 0)
        self._failures: Counter[str] = Counter()
        self._batch_sizes: Counter[int] = Counter()
        self._last_inference_ms = 0

    def record_batch(self, *, requests: int, queue_ns: int, request_ns: int, rows: int,
                     input_ns: int, infer_ns: int, output_ns: int) -> None:
        """One successful run of `requests` requests; `queue_ns` and `request_ns` are their
        sums over the batch."""
        self._record(requests, rows, 0, queue_ns, request_ns, input_ns, infer_ns, output_ns)

    def record_one(self, queue_ns: int, request_ns: int, infer_ns: int) -> None:
        """record_batch for one request run inline, whose inputs and outputs are used as
        they are (no stacking or splitting: compute_input_ns and compute_output_ns add 0)."""
        self._record(1, 1, 1, queue_ns, request_ns, 0, infer_ns, 0)

    def _record(self, requests: int, rows: int, inline: int, queue_ns: int, request_ns: int,
                input_ns: int, infer_ns: int, output_ns: int) -> None:
        """Runs once per inference: plain dict arithmetic, one lock, positional arguments."""
        last_ms = time.time_ns() // 1_000_000
        with self._lock:
            counts = self._counts
            counts["execution_count"] += 1
            counts["inline_count"] += inline
            counts["inference_count"] += rows
            counts["success_count"] += requests
            counts["queue_ns"] += queue_ns
            counts["request_ns"] += request_ns
            counts["compute_input_ns"] += input_ns
            counts["compute_infer_ns"] += infer_ns
            counts["compute_output_ns"] += output_ns
            self._batch_sizes[rows] += 1
            self._last_inference_ms = last_ms

    def record_failure(self, code: str, request_ns: int = 0) -> None:
        with self._lock:
            self._counts["failure_count"] += 1
            self._counts["request_ns"] += request_ns
            self._failures[code] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"uid": self.uid, **self._counts,
                    "failures_by_code": dict(self._failures),
                    "batch_sizes": {str(k): v for k, v in sorted(self._batch_sizes.items())},
                    "last_inference_ms": self._last_inference_ms}
