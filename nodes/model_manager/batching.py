"""Per-model request queues and the dynamic batching policy (after Triton's).

A queue is ordered by (priority level, arrival), level 1 first as in Triton; a batch is taken from its head
so batching never lets a request overtake one that is more urgent. Only
requests whose non-batch dims match can share a run, since onnxruntime needs
one rectangular tensor per input.
"""
from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.errors import Internal, ResourceExhausted
from .config import ModelConfig


@dataclass(eq=False, slots=True)  # one per forward: slots build faster
class Request:
    inputs: dict[str, np.ndarray]
    request_id: str
    priority: int
    deadline_ns: int | None
    on_done: Callable[[Any], None]
    enqueue_ns: int
    seq: int
    rows: int
    batch_key: tuple

    def expired(self, now_ns: int) -> bool:
        return self.deadline_ns is not None and now_ns >= self.deadline_ns


def describe_rows(inputs: dict[str, np.ndarray], batching: bool) -> tuple[int, tuple]:
    """Rows a request contributes to a batch and the key it must share with batch-mates."""
    if not batching:
        return 1, ()
    rows = {int(a.shape[0]) for a in inputs.values()}
    if len(rows) != 1:
        return max(rows), (object(),)  # inputs disagree on rows: this one runs alone
    return rows.pop(), tuple((name, a.shape[1:]) for name, a in sorted(inputs.items()))


class ModelQueue:
    """Not thread-safe: the scheduler calls it only while holding its lock."""

    def __init__(self, config: ModelConfig, batchable: bool) -> None:
        self.config = config
        self.batching = batchable and config.batching
        self.inflight = 0
        self._heap: list[tuple[int, int, Request]] = []
        self._delay_ns = config.max_queue_delay_us * 1000
        sizes = config.preferred_batch_sizes
        self._target_rows = max(sizes) if sizes else config.max_batch_size

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, request: Request) -> None:
        if len(self._heap) >= self.config.max_queue_size:
            raise ResourceExhausted(
                f"queue is full ({self.config.max_queue_size} requests waiting)")
        level = self.config.priority_level(request.priority)
        heapq.heappush(self._heap, (level, request.seq, request))

    def head_key(self) -> tuple[int, int] | None:
        return self._heap[0][:2] if self._heap else None

    def next_deadline_ns(self) -> int | None:
        deadlines = [r.deadline_ns for _, _, r in self._heap if r.deadline_ns is not None]
        return min(deadlines, default=None)

    def pop_expired(self, now_ns: int) -> list[Request]:
        expired = [r for _, _, r in self._heap if r.expired(now_ns)]
        if expired:
            self._remove(expired)
        return expired

    def drain(self) -> list[Request]:
        requests = [r for _, _, r in sorted(self._heap)]
        self._heap.clear()
        return requests

    def take_batch(self, now_ns: int) -> tuple[list[Request] | None, int | None]:
        """Return a batch to run now, or None and when it is worth asking again."""
        if not self._heap or self.inflight >= self.config.runs_at_once(len(self._heap),
                                                                        self.inflight):
            return None, None
        ordered = [r for _, _, r in sorted(self._heap)]
        if not self.batching:
            return self._remove(ordered[:1]), None
        mates = [r for r in ordered if r.batch_key == ordered[0].batch_key]
        rows = sum(r.rows for r in mates)
        ready_ns = min(r.enqueue_ns for r in mates) + self._delay_ns
        if rows < self._target_rows and now_ns < ready_ns:
            return None, ready_ns
        cap = self._target_rows if rows >= self._target_rows else self._cut(rows)
        chosen, total = [], 0
        for request in mates:
            if chosen and total + request.rows > cap:
                break
            chosen.append(request)
            total += request.rows
        return self._remove(chosen), None

    def _cut(self, rows: int) -> int:
        """After the delay, prefer the largest preferred size we can fill."""
        fitting = [s for s in self.config.preferred_batch_sizes if s <= rows]
        return fitting[-1] if fitting else self.config.max_batch_size

    def _remove(self, requests: list[Request]) -> list[Request]:
        gone = {id(r) for r in requests}
        self._heap = [entry for entry in self._heap if id(entry[2]) not in gone]
        heapq.heapify(self._heap)
        return requests


def stack_inputs(batch: list[Request]) -> dict[str, np.ndarray]:
    if len(batch) == 1:
        return batch[0].inputs
    return {name: np.concatenate([r.inputs[name] for r in batch], axis=0)
            for name in batch[0].inputs}


def split_outputs(names: list[str], outputs: list[np.ndarray],
                  batch: list[Request]) -> list[dict[str, np.ndarray]]:
    """Give each request its own rows back; a model that broke the row count is a bug."""
    if len(batch) == 1:
        return [dict(zip(names, outputs))]
    total = sum(r.rows for r in batch)
    for name, array in zip(names, outputs):
        if array.ndim == 0 or array.shape[0] != total:
            raise Internal(f"output {name!r} has shape {list(array.shape)}, which does not "
                           f"split into a batch of {total} rows")
    bounds = np.cumsum([r.rows for r in batch])[:-1]
    pieces = [np.split(array, bounds, axis=0) for array in outputs]
    return [{name: pieces[i][k] for i, name in enumerate(names)} for k in range(len(batch))]
