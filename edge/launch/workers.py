"""Control work that waits on other processes, off the supervisor's loop: a bounded pool.

Asking a node's own service (param.get, param.set, stats) or sampling every node for
topic rates can take seconds; the loop hands it to a few threads and answers through
a Future. Work beyond `max_pending` is refused at once (RESOURCE_EXHAUSTED) instead of
queueing without bound. NodeCalls is that work, plus the live parameter values kept for
a node's next start.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from edge.client import Client
from edge.errors import ResourceExhausted, ServiceTimeout, Unavailable
from edge.launch.topicstats import TopicRates, collect_stats, topic_table
from edge.nodetype import check_live_value

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


class NodeCalls:
    """What the control surface asks of nodes' own services, each answered by a Future."""

    def __init__(self, workers: Workers, types: dict):
        self._workers, self._types = workers, types
        self._overrides: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._rates = TopicRates()

    def overrides(self, name: str) -> dict:
        """Values set live, for the node's next start."""
        with self._lock:
            return dict(self._overrides.get(name, {}))

    def param_get(self, name: str, endpoint: str, key: str | None) -> Future:
        body = {"key": key} if key is not None else {}
        return self._workers.submit(f"param.get {name}",
                                    lambda: call_node(name, endpoint, "param.get", body))

    def param_set(self, name: str, endpoint: str, key: str, value: Any) -> Future:
        """Checked here first, so a value the node type refuses never reaches the node."""
        node_type = self._types.get(name)
        specs = node_type.parameters if isinstance(node_type, type) else None
        value = check_live_value(name, specs, key, value)

        def work():
            result = call_node(name, endpoint, "param.set", {"key": key, "value": value})
            with self._lock:  # before the reply: a restart right after keeps it
                self._overrides.setdefault(name, {})[key] = value  # the checked value
            return result
        return self._workers.submit(f"param.set {name}", work)

    def stats(self, name: str, endpoint: str) -> Future:
        return self._workers.submit(f"stats {name}", lambda: call_node(name, endpoint, "stats", None))

    def all_stats(self, summary: dict, services: dict) -> Future:
        return self._workers.submit("stats", lambda: {**summary, "nodes": collect_stats(services)})

    def topics(self, routes: dict, services: dict) -> Future:
        return self._workers.submit("topics", lambda: topic_table(routes, services, self._rates))
