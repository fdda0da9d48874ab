"""Topic rates and drops, from the counters every node reports in its `stats` reply.

A publisher counts what it sent (`published`), each subscriber what it received and
dropped. A rate needs two samples: the previous one is kept, and when there is none
recent enough the collector samples twice, `min_interval_s` apart.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from edge.client import Client
from edge.errors import EdgeError

SAMPLE_TIMEOUT_S = 0.5


def collect_stats(services: dict, timeout_s: float = SAMPLE_TIMEOUT_S) -> dict:
    """node name -> its stats reply, or {"error": "..."}; services: name -> endpoint."""
    found = {}
    for name, endpoint in services.items():
        try:
            with Client(endpoint, timeout_s=timeout_s, retries=0) as client:
                found[name] = client.call("stats")
        except EdgeError as exc:
            found[name] = {"error": str(exc)}
    return found


def errors(stats: dict) -> dict:
    """topic -> bad messages and failed callbacks, summed over its subscribers."""
    found: dict[str, int] = {}
    for node_stats in stats.values():
        for port in (node_stats.get("inputs") or {}).values():
            topic = port.get("topic")
            if topic is not None:
                found[topic] = (found.get(topic, 0) + port.get("decode_errors", 0)
                                + port.get("handler_errors", 0))
    return found


def counters(stats: dict) -> tuple[dict, dict]:
    """(topic -> messages published, topic -> messages dropped by subscribers).

    A topic whose publisher is not a launched node (an external one) counts what its
    busiest subscriber saw: received plus dropped.
    """
    published: dict[str, int] = {}
    seen: dict[str, int] = {}
    dropped: dict[str, int] = {}
    for node_stats in stats.values():
        for topic, count in (node_stats.get("published") or {}).items():
            published[topic] = published.get(topic, 0) + count
        for port in (node_stats.get("inputs") or {}).values():
            topic = port.get("topic")
            if topic is not None:
                dropped[topic] = dropped.get(topic, 0) + port.get("dropped", 0)
                count = port.get("received", 0) + port.get("dropped", 0)
                seen[topic] = max(seen.get(topic, 0), count)
    return {**seen, **published}, dropped


class TopicRates:
    """Thread-safe: control workers share one instance."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, min_interval_s: float = 0.5,
                 max_age_s: float = 30.0):
        self.clock, self.min_interval_s, self.max_age_s = clock, min_interval_s, max_age_s
        self._lock = threading.Lock()
        self._last: Optional[tuple[float, dict]] = None

    def needs_second_sample(self) -> bool:
        with self._lock:
            return self._last is None or self.clock() - self._last[0] > self.max_age_s

    def update(self, published: dict) -> dict:
        """topic -> msg/s since the previous sample (None if unknown); stores this sample."""
        now = self.clock()
        with self._lock:
            last, self._last = self._last, (now, dict(published))
        if last is None or now - last[0] <= 0:
            return {topic: None for topic in published}
        elapsed = now - last[0]
        rates = {}
        for topic, count in published.items():
            before = last[1].get(topic, 0)
            delta = count - before if count >= before else count  # a restart resets seq
            rates[topic] = round(delta / elapsed, 2)
        return rates


def topic_table(routes: dict, services: dict, rates: TopicRates,
                sleep: Callable[[float], None] = time.sleep) -> list:
    """One row per topic: publisher, endpoint, subscribers, rate_hz, dropped, errors."""
    stats = collect_stats(services)
    if rates.needs_second_sample():
        rates.update(counters(stats)[0])
        sleep(rates.min_interval_s)
        stats = collect_stats(services)
    published, dropped = counters(stats)
    rate_hz = rates.update(published)
    bad = errors(stats)
    return [{**route.to_wire(), "rate_hz": rate_hz.get(topic), "published": published.get(topic),
             "dropped": dropped.get(topic, 0), "errors": bad.get(topic, 0)}
            for topic, route in sorted(routes.items())]
