"""The clocks a node reads, and periodic timers on the monotonic one, without drift."""
from __future__ import annotations

import time
from typing import Optional


class SystemClock:
    """monotonic() paces and measures, time_ns() stamps; `edge.testing.FakeClock` fakes both."""

    monotonic = staticmethod(time.monotonic)
    time_ns = staticmethod(time.time_ns)


SYSTEM_CLOCK = SystemClock()


class Timers:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._timers: dict[str, list] = {}  # name -> [period_s, next_due]

    def add(self, name: str, period_s: float) -> None:
        if period_s <= 0:
            raise ValueError(f"timer {name!r}: period_s must be > 0, got {period_s}")
        self._timers[name] = [period_s, self._clock() + period_s]

    def remove(self, name: str) -> None:
        self._timers.pop(name, None)

    def seconds_until_due(self) -> Optional[float]:
        if not self._timers:
            return None
        return max(0.0, min(due for _, due in self._timers.values()) - self._clock())

    def pop_due(self) -> Optional[str]:
        """The most overdue timer's name, rescheduled on its own grid (late ticks are skipped)."""
        now = self._clock()
        name, timer = min(self._timers.items(), key=lambda item: item[1][1], default=(None, None))
        if timer is None or timer[1] > now:
            return None
        period, due = timer
        missed = int((now - due) // period)
        timer[1] = due + (missed + 1) * period
        return name
