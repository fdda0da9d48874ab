"""Every node's ChildProcess, by name: what the supervisor's loop asks of all of them at once."""
from __future__ import annotations

import time
from typing import Callable, Iterator, Optional

from edge.launch.process import LIVE_STATES, ChildProcess

NO_PIDFD_POLL_S = 0.05  # where the kernel has no pidfd, exits are found by polling this often


class Children:
    def __init__(self) -> None:
        self._by_name: dict[str, ChildProcess] = {}

    def add(self, child: ChildProcess) -> None:
        self._by_name[child.name] = child

    def get(self, name: str) -> Optional[ChildProcess]:
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return list(self._by_name)

    def __iter__(self) -> Iterator[ChildProcess]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def in_states(self, *states: str) -> list[ChildProcess]:
        return [c for c in self if c.state in states]

    def alive(self) -> list[ChildProcess]:
        return [c for c in self if c.alive]

    def tick(self) -> None:
        for child in self:
            child.tick()

    def next_deadline(self, now: float) -> Optional[float]:
        deadlines = [d for c in self if (d := c.next_deadline()) is not None]
        if any(c.exit_polled for c in self):
            deadlines.append(now + NO_PIDFD_POLL_S)
        return min(deadlines, default=None)

    def event_sources(self) -> dict:
        """fd -> handler: output to print; an exit only wakes the loop, whose tick reaps it."""
        sources: dict[int, Callable[[], None]] = {}
        for child in self:
            if child.output_fd is not None:
                sources[child.output_fd] = child.read_output
            if child.exit_fd is not None:
                sources[child.exit_fd] = _nothing
        return sources

    def stop_all(self, grace_s: float) -> int:
        """Stop every node; how many had something to stop."""
        live = len(self.in_states(*LIVE_STATES, "backoff"))
        for child in self:
            child.stop(grace_s)
        return live

    def kill_all(self, wait_s: float = 2.0) -> None:
        """SIGKILL every node's group and reap, waiting at most `wait_s`."""
        for child in self:
            child.kill()
        deadline = time.monotonic() + wait_s
        for child in self:
            while child.alive and time.monotonic() < deadline:
                child.tick()
                time.sleep(0.01)


def _nothing() -> None:
    pass
