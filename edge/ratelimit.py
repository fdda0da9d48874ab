"""Log lines a peer can provoke, rate limited: a flood of bad messages costs a few lines.

    bad_requests = RateLimitedLog(log, per_interval=5, interval_s=10.0)
    bad_requests.warning("malformed request: %s", exc)

At most `per_interval` lines per `interval_s`; the first line after a quiet spell says
how many were suppressed. Safe from any thread.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, *, per_interval: int = 5, interval_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self._logger, self._per_interval, self._interval_s = logger, per_interval, interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = -float("inf")
        self._logged = 0
        self.suppressed = 0  # lines not written since the last one that was

    def log(self, level: int, message: str, *args: Any, **kwargs: Any) -> bool:
        """Write the line unless the budget is spent; True when it was written."""
        with self._lock:
            now = self._clock()
            if now - self._window_start >= self._interval_s:
                self._window_start, self._logged = now, 0
            if self._logged >= self._per_interval:
                self.suppressed += 1
                return False
            self._logged += 1
            suppressed, self.suppressed = self.suppressed, 0
        if suppressed:
            message += f" ({suppressed} similar line(s) suppressed)"
        self._logger.log(level, message, *args, **kwargs)
        return True

    def warning(self, message: str, *args: Any, **kwargs: Any) -> bool:
        return self.log(logging.WARNING, message, *args, **kwargs)

    def error(self, message: str, *args: Any, **kwargs: Any) -> bool:
        return self.log(logging.ERROR, message, *args, **kwargs)
