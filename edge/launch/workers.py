"""Control work that waits on other processes, off the supervisor's loop: a bounded pool.

Asking a node's own service (param.get, param.set, stats) or sampling every node for
topic rates can take seconds; the loop hands it to a few threads and answers through
a Future. Work beyond `max_pending` is refused at once (RESOURCE_EXHAUSTED) instead of
queueing without bound.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from edge.client import Client
from edge.errors import ResourceExhausted, ServiceTimeout, Unavailable

NODE_CALL_TIMEOUT_S = 2.0


class Workers:
    def __init__(self, threads: int = 4, max_pending: int = 64):
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="control")
        self._max_pending = max_pending
        self._pending = 0
        self._lock = threading.Lock()

    def submit(self, label: str, work: Callable[[], Any]) -> Future:
        with self._lock:
            if self._pending >= self._max_pending:
                raise ResourceExhausted(f"{label}: the supervisor is busy with "
                                        f"{self._pending} slow requests; try again")
            self._pending += 1
        future = self._pool.submit(work)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future: Future) -> None:
        with self._lock:
            self._pending -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def call_node(name: str, endpoint: str, method: str, body: Any) -> Any:
    """One request to a node's own service; Unavailable when it does not answer in time."""
    try:
        with Client(endpoint, timeout_s=NODE_CALL_TIMEOUT_S, retries=0) as client:
            return client.call(method, body)
    except ServiceTimeout:
        raise Unavailable(f"node {name!r} did not answer {method!r} within "
                          f"{NODE_CALL_TIMEOUT_S:.0f} s (is it iterating its events?)") from None
