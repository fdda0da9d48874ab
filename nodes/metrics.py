"""Rates and timing windows the built-in nodes report in their Stats messages."""
from __future__ import annotations

import collections
import time
from typing import Callable

from edge.measure.summary import percentile  # the one nearest-rank percentile


class RateMeter:
    """Events per second over the last `window_s` seconds (monotonic clock)."""

    def __init__(self, window_s: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self.window_s, self._clock = window_s, clock
        self._times: collections.deque = collections.deque()
        self.count = 0

    def tick(self) -> None:
        self.count += 1
        now = self._clock()
        self._times.append(now)
        self._trim(now)

    def rate(self) -> float:
        self._trim(self._clock())
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()


class Window:
    """The last `size` samples of a measurement (milliseconds, say), for mean and percentiles."""

    def __init__(self, size: int = 200):
        self._values: collections.deque = collections.deque(maxlen=size)
        self.last = 0.0

    def add(self, value: float) -> None:
        self.last = value
        self._values.append(value)

    def __len__(self) -> int:
        return len(self._values)

    def mean(self) -> float:
        return sum(self._values) / len(self._values) if self._values else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self._values, q)
