"""Timing a caller's own work on a loaded machine (CI runs on 2 busy cores).

Wall-clock time less the time the thread waited, runnable, for a CPU (Linux schedstat):
that wait is the machine's load, not the code's. A bound on `OwnTime.elapsed_s` keeps
its meaning (a decoder that stops early, a call that ends at its deadline) when the
machine stalls the test for a second.
"""
from __future__ import annotations

import time
from pathlib import Path


def run_queue_wait_s(task: str = "thread-self") -> float:
    """Time a thread (for a pid: its main thread) has spent runnable but not running;
    0 where the kernel does not say."""
    try:
        return int(Path(f"/proc/{task}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class OwnTime:
    """`with OwnTime() as timed: ...`, then `timed.elapsed_s` (own) and `timed.load_s`."""

    def __enter__(self) -> "OwnTime":
        self.elapsed_s = self.load_s = 0.0
        self._started, self._waited_s = time.monotonic(), run_queue_wait_s()
        return self

    def __exit__(self, *exc) -> None:
        self.load_s = run_queue_wait_s() - self._waited_s
        self.elapsed_s = time.monotonic() - self._started - self.load_s
