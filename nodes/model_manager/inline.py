"""Which forward requests may run on the socket thread instead of a worker.

A hand-off to a worker and the wake-up back cost more than a tiny model's run, so an
idle manager runs such a request where it arrived (see Scheduler.run_inline). Only runs
known to be quick qualify: the last STREAK runs of the model with the same input
shapes each took at most the model's ``inline_max_us``. A worker times a run by the CPU
time of its thread when the session runs on that one thread (intra_op_threads 1), so time
spent preempted on a busy machine does not count; by wall time otherwise. An inline run is
timed by wall time only: reading a thread's CPU clock is a system call (~1 µs, twice per
request), and wall time can only overstate a run. A slower run resets the streak, so the
socket thread is held that long at most once, and the shapes go back to the workers until
they have been quick STREAK times in a row again.
"""
from __future__ import annotations

import threading

import numpy as np

STREAK = 8  # quick runs in a row before shapes may run inline
MAX_SHAPES = 64  # shape keys remembered per model; more and the record starts afresh


def shape_key(inputs: dict[str, np.ndarray]) -> tuple:
    """Inputs come in spec order with dtypes the spec fixed: their shapes say the rest."""
    return tuple([a.shape for a in inputs.values()])


class QuickRuns:
    """Per model: how many runs in a row were quick, by input shapes. Thread-safe."""

    def __init__(self, max_us: int, cpu_clock: bool) -> None:
        self.max_ns = max_us * 1000
        self.cpu_clock = cpu_clock  # workers time runs by thread CPU time, else wall time
        self._streaks: dict[tuple, int] = {}
        self._lock = threading.Lock()

    def allows(self, key: tuple) -> bool:
        return self.max_ns > 0 and self._streaks.get(key, 0) >= STREAK

    def record(self, key: tuple, took_ns: int) -> None:
        if took_ns <= self.max_ns and self._streaks.get(key) == STREAK:
            return  # quick again, streak full: nothing changes (the usual case; no lock)
        with self._lock:
            if took_ns > self.max_ns:
                self._streaks[key] = 0
                return
            if key not in self._streaks and len(self._streaks) >= MAX_SHAPES:
                self._streaks.clear()
            self._streaks[key] = min(STREAK, self._streaks.get(key, 0) + 1)
