"""Async requests in Scale Launch's style: a task id now, the result when asked.

Retention is bounded in count and time because a client may never come back
for its result; only finished tasks are evicted, oldest first.
"""
from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.errors import EdgeError, NotFound, ResourceExhausted

PENDING, SUCCESS, FAILURE = "PENDING", "SUCCESS", "FAILURE"


@dataclass
class _Task:
    request_id: str = ""
    state: str = PENDING
    outcome: Any = None
    done_s: float = 0.0
    done_seq: int = 0


class TaskStore:
    def __init__(self, *, max_tasks: int, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max_tasks = max_tasks
        self._ttl_s = ttl_s
        self._clock = clock
        self._tasks: OrderedDict[str, _Task] = OrderedDict()
        self._finished = itertools.count()
        self._lock = threading.Lock()

    def create(self, request_id: str = "") -> str:
        with self._lock:
            self._expire()
            if len(self._tasks) >= self._max_tasks and not self._evict_one():
                raise ResourceExhausted(
                    f"{len(self._tasks)} async tasks are still pending (max_tasks)")
            task_id = secrets.token_hex(16)
            self._tasks[task_id] = _Task(request_id)
            return task_id

    def discard(self, task_id: str) -> None:
        """Forget a task whose request was never accepted."""
        with self._lock:
            self._tasks.pop(task_id, None)

    def complete(self, task_id: str, outcome: Any) -> None:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is not None:
                task.state = FAILURE if isinstance(outcome, BaseException) else SUCCESS
                task.outcome = outcome
                task.done_s = self._clock()
                task.done_seq = next(self._finished)

    def get(self, task_id: str) -> dict[str, Any]:
        with self._lock:
            self._expire()
            task = self._tasks.get(task_id) if isinstance(task_id, str) else None
            if task is None:
                raise NotFound(f"no async task {task_id!r} (unknown, or its result expired)")
            reply: dict[str, Any] = {"task_id": task_id, "request_id": task.request_id,
                                     "state": task.state}
            if task.state == SUCCESS:
                reply["result"] = task.outcome
            elif task.state == FAILURE:
                reply["error"] = _error(task.outcome)
            return reply

    def _expire(self) -> None:
        cutoff = self._clock() - self._ttl_s
        stale = [k for k, t in self._tasks.items() if t.state != PENDING and t.done_s <= cutoff]
        for task_id in stale:
            del self._tasks[task_id]

    def _evict_one(self) -> bool:
        done = [(t.done_seq, k) for k, t in self._tasks.items() if t.state != PENDING]
        if not done:
            return False
        del self._tasks[min(done)[1]]
        return True


def _error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, EdgeError):
        return exc.to_wire()
    return {"code": "INTERNAL", "message": f"{type(exc).__name__}: {exc}"}
