"""One supervised child: spawn, prefixed output, restart with backoff, stop with escalation.

The supervisor's loop calls `tick()` and `read_output()`; nothing here blocks or starts
a thread. `exit_fd` (a pidfd) becomes readable when the process exits, so the loop
waits for exits instead of polling for them. The clock and Popen are injectable so the
state machine can be tested with a fake clock and fake processes.

States: starting -> running (ready handshake) -> stopping -> stopped, or after an exit
on its own: backoff -> starting again, exited (done) or failed (given up on).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Callable, Optional, TextIO, Union

from edge.launch.forkserver import ForkedProcess, die_with_parent
from edge.launch.restart import RestartPolicy

LIVE_STATES = ("starting", "running", "stopping")
TERM_AFTER_S = 1.0     # after SIGTERM, wait this long before SIGKILL
_COLOURS = ("36", "33", "32", "35", "34", "31", "96", "93", "92", "95", "94", "91")

def _pidfd_open(pid: int) -> Optional[int]:
    """A pidfd for `pid`, or None where the kernel or Python has none (then exits are polled)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


class OutputPrinter:
    """Writes lines as `name | text`, padded, with a colour per name on a terminal."""

    def __init__(self, stream: TextIO | None = None, color: Optional[bool] = None):
        self.stream = stream or sys.stdout
        self.color = self.stream.isatty() if color is None else color
        self._colours: dict[str, str] = {}
        self.width = 4

    def add(self, name: str) -> None:
        self._colours.setdefault(name, _COLOURS[len(self._colours) % len(_COLOURS)])
        self.width = max(self.width, len(name))

    def line(self, name: str, text: str) -> None:
        prefix = f"{name:<{self.width}} |"
        if self.color:
            prefix = f"\x1b[{self._colours.get(name, '1')}m{prefix}\x1b[0m"
        try:
            self.stream.write(f"{prefix} {text}\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # nobody is reading any more; the graph keeps running


class Supervised:
    """What a supervised node is asked, whether it runs here (ChildProcess) or on an agent
    (edge.launch.remotechild.RemoteChild): they differ in how they spawn and stop."""

    state: str
    alive: bool

    def start(self) -> None:
        """Start by hand (or for the first time): earlier failures are forgotten."""
        self.policy.reset()
        self._spawn()

    def restart(self, grace_s: float) -> None:
        if not self.alive:
            self.restarts += 1
            self.start()
        else:
            self.stop(grace_s)
            self._then_start = True

    def mark_ready(self, body: dict) -> bool:
        """The node's ready handshake; False if it comes from a run already over."""
        if self.state != "starting":
            return False
        self.state, self.ready_at, self.reported = "running", self.clock(), dict(body)
        return True

    def _leave_backoff(self) -> None:
        """A stop or kill while waiting to restart: stay stopped."""
        if self.state == "backoff":
            self.state, self.restart_at = "stopped", None


class ChildProcess(Supervised):
    def __init__(self, name: str, argv: list, env: Union[dict, Callable[[], dict]],
                 policy: RestartPolicy, printer: OutputPrinter, *,
                 log: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, popen=subprocess.Popen,
                 cwd: str | None = None, guardian=None):
        """`env`: a map, or a function called at each spawn (live parameter changes)."""
        self.name, self.argv, self.env, self.cwd = name, argv, env, cwd
        self.guardian = guardian  # edge.launch.guardian.Guardian: told of each process group
        self.policy, self.printer, self.clock, self._popen_factory = policy, printer, clock, popen
        self.log = log or (lambda text: printer.line("edge", text))
        self.state = "stopped"
        self.popen: Optional[subprocess.Popen] = None
        self.restarts = 0
        self.exit_code: Optional[int] = None
        self.started_at: Optional[float] = None
        self.ready_at: Optional[float] = None
        self.restart_at: Optional[float] = None
        self.reported: dict = {}        # the last ready handshake's body
        self._stop_stage = 0
        self._stop_deadline: Optional[float] = None
        self._then_start = False        # a restart: spawn again once stopped
        self._fd: Optional[int] = None
        self._pidfd: Optional[int] = None
        self._partial = b""
        printer.add(name)

    # -- what the supervisor asks ----------------------------------------------------------
    @property
    def pid(self) -> Optional[int]:
        return self.popen.pid if self.popen is not None else None

    @property
    def alive(self) -> bool:
        return self.popen is not None

    @property
    def output_fd(self) -> Optional[int]:
        return self._fd

    @property
    def exit_fd(self) -> Optional[int]:
        """Readable once the process has exited (None: no process, or no pidfd support)."""
        return self._pidfd

    @property
    def exit_polled(self) -> bool:
        """Alive without a pidfd: the loop must poll for its exit."""
        return self.popen is not None and self._pidfd is None

    def stop(self, grace_s: float) -> None:
        """Deliver the stop event (SIGINT); SIGTERM after `grace_s`, SIGKILL after that."""
        self._then_start = False
        self._leave_backoff()
        if self.popen is None or self.state == "stopping":
            return
        self.state, self._stop_stage = "stopping", 1
        self._stop_deadline = self.clock() + grace_s
        self._signal(signal.SIGINT)

    def kill(self) -> None:
        """SIGKILL now (the last resort at shutdown); the exit counts as a stop."""
        if self.popen is not None:
            self.state, self._then_start = "stopping", False
            self._stop_deadline = self._stop_deadline or self.clock()
            self._signal(signal.SIGKILL)
        else:
            self._leave_backoff()

    def tick(self) -> None:
        """Reap an exit, escalate a stop, or respawn after backoff, as the clock says."""
        now = self.clock()
        if self.popen is not None:
            returncode = self.popen.poll()
            if returncode is not None:
                self._exited(returncode, now)
        if self.state == "backoff" and self.restart_at is not None and now >= self.restart_at:
            self.restarts += 1
            self._spawn()
        elif self.state == "stopping" and now >= self._stop_deadline:
            self._escalate(now)

    def next_deadline(self) -> Optional[float]:
        if self.state == "backoff":
            return self.restart_at
        if self.state == "stopping":
            return self._stop_deadline
        return None

    def describe(self) -> dict:
        now = self.clock()
        return {"name": self.name, "state": self.state, "pid": self.pid, "restarts": self.restarts,
                "uptime_s": round(now - self.started_at, 3) if self.alive else 0.0,
                "ready": self.state == "running", "exit_code": self.exit_code,
                "restart": self.policy.mode, "max_restarts": self.policy.max_restarts}

    # -- output ------------------------------------------------------------------------------
    def read_output(self) -> None:
        """Print every complete line the child has written; close the pipe at EOF."""
        if self._fd is None:
            return
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self._close_output()
                return
            self._partial += chunk
            *lines, self._partial = self._partial.split(b"\n")
            for line in lines:
                self.printer.line(self.name, line.rstrip(b"\r").decode("utf-8", "replace"))
            if len(self._partial) > 65536:
                self.printer.line(self.name, self._partial.decode("utf-8", "replace"))
                self._partial = b""

    def _close_output(self) -> None:
        if self._partial:
            self.printer.line(self.name, self._partial.decode("utf-8", "replace"))
            self._partial = b""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- internals ---------------------------------------------------------------------------
    def _spawn(self) -> None:
        self._close_output()
        self.exit_code, self.ready_at, self.restart_at, self.reported = None, None, None, {}
        env = self.env() if callable(self.env) else self.env
        try:
            self.popen = self._popen_factory(
                self.argv, env=env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, process_group=0,
                preexec_fn=die_with_parent, close_fds=True)
        except OSError as exc:
            self.popen, self.state = None, "failed"
            self.log(f"node {self.name!r} failed: cannot start {self.argv[0]}: {exc}")
            return
        self.state, self.started_at = "starting", self.clock()
        real = isinstance(self.popen, (subprocess.Popen, ForkedProcess))
        self._pidfd = _pidfd_open(self.popen.pid) if real else None
        if self.guardian is not None:
            self.guardian.watch(self.popen.pid)
        if self.popen.stdout is not None:
            self._fd = os.dup(self.popen.stdout.fileno())
            self.popen.stdout.close()
            os.set_blocking(self._fd, False)

    def _exited(self, returncode: int, now: float) -> None:
        self.read_output()
        self._close_output()
        self._signal(signal.SIGKILL)  # whatever the node left behind in its process group
        if self.guardian is not None:
            self.guardian.forget(self.popen.pid)
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        ran_s = now - (self.started_at or now)
        self.popen, self.exit_code, self._stop_stage = None, returncode, 0
        if self.state == "stopping":
            self.state = "stopped"
            if self._then_start:
                self._then_start = False
                self.restarts += 1
                self.start()
            return
        decision = self.policy.after_exit(returncode, ran_s)
        self.state = decision.state
        if decision.state == "backoff":
            self.restart_at = now + decision.delay_s
            self.log(f"node {self.name!r} {decision.reason}")
        elif decision.state == "failed":
            self.log(f"node {self.name!r} FAILED: {decision.reason}; the rest of the graph "
                     "keeps running")
        else:
            self.log(f"node {self.name!r} {decision.reason}")

    def _escalate(self, now: float) -> None:
        if self._stop_stage == 1:
            self.log(f"node {self.name!r} did not stop after its stop event; sending SIGTERM")
            self._stop_stage, self._stop_deadline = 2, now + TERM_AFTER_S
            self._signal(signal.SIGTERM)
        else:
            if self._stop_stage == 2:
                self.log(f"node {self.name!r} ignored SIGTERM; sending SIGKILL")
            self._stop_stage, self._stop_deadline = 3, now + 1.0
            self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        """Signal the child's whole process group (it leads its own)."""
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass
