"""Credit-based flow control over pub/sub: stay at most N results ahead of a consumer.

A detector feeding a slower recognizer would otherwise run on every frame and throw most
of its boxes away, taking CPU the recognizer needs when they share cores. With its
`gate` input wired to the consumer's output, the runner holds the newest frame while N
results are unacknowledged; an acknowledgement is any consumer message whose stamp_ns is
at least the result's. Acks that never come (a dropped result) expire after a timeout.
"""
from __future__ import annotations

import collections
import time


class Credits:
    def __init__(self, limit: int = 2, timeout_s: float = 2.0, clock=time.monotonic):
        self.limit, self.timeout_s, self._clock = max(1, limit), timeout_s, clock
        self._out: collections.deque = collections.deque()   # (stamp_ns, sent at)
        self.expired = 0

    def sent(self, stamp_ns: int) -> None:
        self._out.append((stamp_ns, self._clock()))

    def acknowledge(self, stamp_ns: int) -> None:
        while self._out and self._out[0][0] <= stamp_ns:
            self._out.popleft()

    def available(self) -> bool:
        now = self._clock()
        while self._out and now - self._out[0][1] > self.timeout_s:
            self._out.popleft()
            self.expired += 1
        return len(self._out) < self.limit
