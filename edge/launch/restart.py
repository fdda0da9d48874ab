"""When a node that exited is started again: restart modes, exponential backoff, a cap.

Pure decisions from (exit code, how long the run lasted), so backoff is tested without
processes or sleeping. `max_restarts` counts restarts in a row: a run that stays up
for `stable_s` proves the node healthy again and resets the count, so a long-lived
robot does not run out of restarts one rare crash at a time.
"""
from __future__ import annotations

import signal
from dataclasses import dataclass

from edge.launch.graph import DEFAULT_MAX_RESTARTS, DEFAULT_RESTART, RESTART_MODES
from edge.run import EXIT_CONFIG


@dataclass(frozen=True)
class Decision:
    state: str          # "backoff" (restart after delay_s), "exited" or "failed"
    delay_s: float = 0.0
    reason: str = ""


class RestartPolicy:
    def __init__(self, mode: str = DEFAULT_RESTART, max_restarts: int = DEFAULT_MAX_RESTARTS, *,
                 base_s: float = 0.2, factor: float = 2.0, cap_s: float = 10.0,
                 stable_s: float = 10.0):
        if mode not in RESTART_MODES:
            raise ValueError(f"restart mode must be one of {RESTART_MODES}, got {mode!r}")
        self.mode, self.max_restarts = mode, max_restarts
        self.base_s, self.factor, self.cap_s, self.stable_s = base_s, factor, cap_s, stable_s
        self.failures = 0  # restarts in a row, without a stable run in between

    def delay_s(self, attempt: int) -> float:
        """Backoff before restart number `attempt` (1-based) of a row."""
        return min(self.cap_s, self.base_s * self.factor ** max(0, attempt - 1))

    def after_exit(self, returncode: int, ran_s: float) -> Decision:
        """What to do about a node that exited on its own after running `ran_s` seconds."""
        how = describe_exit(returncode)
        if returncode == EXIT_CONFIG:
            return Decision("failed", reason=f"{how}: its configuration cannot work, "
                            "so it is not restarted (fix it and run `edge node start`)")
        wanted = self.mode == "always" or (self.mode == "on-failure" and returncode != 0)
        if not wanted:
            state = "exited" if returncode == 0 else "failed"
            return Decision(state, reason=f"{how} (restart: {self.mode})")
        if ran_s >= self.stable_s:
            self.failures = 0
        self.failures += 1
        if self.failures > self.max_restarts:
            return Decision("failed", reason=f"{how}; it was restarted {self.max_restarts} "
                            f"time(s) in a row (max_restarts={self.max_restarts}), giving up")
        delay_s = self.delay_s(self.failures)
        return Decision("backoff", delay_s, f"{how}; restarting in {delay_s:.2f} s "
                        f"({self.failures} of max_restarts={self.max_restarts} in a row)")

    def reset(self) -> None:
        """Forget earlier failures (a node started again by hand)."""
        self.failures = 0


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"
