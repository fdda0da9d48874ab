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
        self._next_due: Optional[float] = None  # the earliest due time, kept for the hot path

    def add(self, name: str, period_s: float) -> None:
        if period_s <= 0:
            raise ValueError(f"timer {name!r}: period_s must be > 0, got {period_s}")
        self._timers[name] = [period_s, self._clock() + period_s]
        self._update()

    def remove(self, name: str) -> None:
        self._timers.pop(name, None)
        self._update()

    def _update(self) -> None:
        self._next_due = min((due for _, due in self._timers.values()), default=None)

    def seconds_until_due(self) -> Optional[float]:
        if self._next_due is None:
            return None
        return max(0.0, self._next_due - self._clock())

    def pop_due(self) -> Optional[str]:
        """The most overdue timer's name, rescheduled on its own grid (late ticks are skipped)."""
        if self._next_due is None:
            return None
        now = self._clock()
        if self._next_due > now:
            return None
        name, timer = min(self._timers.items(), key=lambda item: item[1][1])
        period, due = timer
        missed = int((now - due) // period)
        timer[1] = due + (missed + 1) * period
        self._update()
        return name
