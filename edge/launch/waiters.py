"""Things the supervisor's loop waits for: a condition with a deadline, checked each pass."""
from __future__ import annotations

from typing import Callable, Optional


class Waiters:
    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._waiting: list = []  # (done, then, deadline, on_timeout)

    def add(self, done: Callable[[], bool], then: Callable[[], None], *, timeout_s: float,
            on_timeout: Callable[[], None]) -> None:
        """Call `then()` once `done()` holds, or `on_timeout()` after `timeout_s`."""
        self._waiting.append((done, then, self._clock() + timeout_s, on_timeout))

    def check(self) -> None:
        now, keep = self._clock(), []
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            done, then, deadline, on_timeout = waiter
            if done():
                then()
            elif now >= deadline:
                on_timeout()
            else:
                keep.append(waiter)
        self._waiting = keep + self._waiting  # any added by a `then` stay

    def next_deadline(self) -> Optional[float]:
        return min((w[2] for w in self._waiting), default=None)

    def cancel_all(self) -> None:
        """At the end: every waiter gets its timeout answer, so no request goes unanswered."""
        waiting, self._waiting = self._waiting, []
        for _done, _then, _deadline, on_timeout in waiting:
            on_timeout()
