"""Nothing a launch started outlives it, even when the supervisor is killed with SIGKILL.

Every node leads its own process group. The guardian is a small process of its own,
started once per launch, that the supervisor tells about each group (`+pgid`, `-pgid`
lines on its stdin). When stdin ends without the supervisor having forgotten every
group (the supervisor died), it sends SIGTERM to what is left, SIGKILL after the grace
period, and exits. Nodes also get PR_SET_PDEATHSIG; the guardian reaches what they
started too (a script's own children), which PDEATHSIG does not.

Run as a script (`python -I -S guardian.py GRACE_S`): standard library only.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Optional


class Guardian:
    def __init__(self, proc: Optional[subprocess.Popen]):
        self._proc = proc

    @classmethod
    def start(cls, grace_s: float) -> "Guardian":
        try:
            proc = subprocess.Popen([sys.executable, "-I", "-S", __file__, f"{grace_s:g}"],
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    process_group=0, close_fds=True)
        except OSError as exc:
            print(f"edge: no guardian process ({exc}); nodes may outlive a killed launch",
                  file=sys.stderr)
            proc = None
        return cls(proc)

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None

    def watch(self, pgid: int) -> None:
        self._tell(f"+{pgid}\n")

    def forget(self, pgid: int) -> None:
        self._tell(f"-{pgid}\n")

    def _tell(self, line: str) -> None:
        if self._proc is None:
            return
        try:
            self._proc.stdin.write(line.encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            self._proc = None  # it is gone; nodes still have PR_SET_PDEATHSIG

    def close(self) -> None:
        """A clean end: every group was forgotten, so the guardian just exits."""
        if self._proc is None:
            return
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self._proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal(groups: set, signum: int) -> None:
    for pgid in groups:
        try:
            os.killpg(pgid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def end_groups(groups: set, grace_s: float) -> None:
    """SIGTERM every group, SIGKILL those still there after `grace_s`."""
    _signal(groups, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(g) for g in groups):
        time.sleep(0.05)
    _signal({g for g in groups if _alive(g)}, signal.SIGKILL)


def main() -> int:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # only the end of stdin ends the guardian
    grace_s = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    groups: set[int] = set()
    for line in sys.stdin.buffer:
        text = line.strip()
        if text[:1] == b"+" and text[1:].isdigit():
            groups.add(int(text[1:]))
        elif text[:1] == b"-" and text[1:].isdigit():
            groups.discard(int(text[1:]))
    if groups:
        end_groups(groups, grace_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
