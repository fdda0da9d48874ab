"""Start nodes by forking a pre-imported process (edge.launch.zygote) instead of spawning
a fresh Python that imports numpy and zmq again: a 4-node graph is ready sooner and
uses less CPU getting there.

`ForkServer.popen` stands in for `subprocess.Popen` in ChildProcess. It forks a node
only when the result is indistinguishable from a spawn: the command is `python -u -m
MODULE` and the node's environment agrees with the zygote's on everything read at
interpreter start (PYTHON*, LD_*, MALLOC_*, thread-count variables). Otherwise, and for
good once the fork server fails (one log line), it spawns as before.

The supervisor becomes a child subreaper so forked nodes are its own children: pidfd,
waitpid exit codes, process groups and the guardian work unchanged; it also reaps
whatever a dead node's own children leave behind (`reap_orphans`), so it must be the only
code in its process that starts children (true of `edge launch`). Opt out with
EDGE_FORK_SERVER=0.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import socket
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterable, Optional

ENV_VAR = "EDGE_FORK_SERVER"
READY_TIMEOUT_S = 15.0   # the zygote's imports, once; on a loaded machine they are slow
REPLY_TIMEOUT_S = 5.0    # one fork
_PR_SET_CHILD_SUBREAPER = 36
# read once at interpreter or library start: a forked node would keep the zygote's values
STARTUP_ENV_PREFIXES = ("PYTHON", "LD_", "MALLOC_", "GLIBC_TUNABLES", "OPENBLAS_", "OMP_",
                        "MKL_", "GOTO", "NUMEXPR_", "VECLIB_")


_PR_SET_PDEATHSIG = 1

try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before any fork
except (OSError, AttributeError):
    _prctl = None


def die_with_parent() -> None:
    """In a new node: SIGTERM when its parent (the supervisor) dies, even by SIGKILL."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def reap_orphans(known_pids: Iterable[Optional[int]]) -> int:
    """Reap exited children the supervisor did not start itself: as a subreaper it inherits
    whatever a node's own children leave behind. How many were reaped."""
    known, reaped = set(known_pids), 0
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return reaped
        if info is None or info.si_pid in known:
            return reaped  # nothing exited, or a child whose owner reaps it
        try:
            os.waitpid(info.si_pid, 0)
            reaped += 1
        except ChildProcessError:
            pass


def interpreter_env(base_dir: Path, environ) -> dict:
    """The environment of every node of a graph in `base_dir`, before its own settings."""
    env = dict(environ)
    path = [str(base_dir.resolve())] + \
        [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env.update({"PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(path)})
    return env


def wanted(env: dict) -> bool:
    return env.get(ENV_VAR, "1") != "0"


def startup_env(env: dict) -> dict:
    return {k: v for k, v in env.items() if k.startswith(STARTUP_ENV_PREFIXES)}


class ForkedProcess:
    """What ChildProcess needs of a Popen, for a node the zygote forked (our child)."""

    def __init__(self, pid: int, stdout_fd: int):
        self.pid, self.returncode = pid, None
        self.stdout = os.fdopen(stdout_fd, "rb")

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: the status is lost
                self.returncode = 255
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


class ForkServer:
    def __init__(self, base_dir: Path, environ, log: Optional[Callable[[str], None]] = None):
        """Starts the zygote with the environment of nodes of a graph in `base_dir`."""
        env = interpreter_env(base_dir, environ)
        self.log = log or (lambda text: print(f"edge: {text}", file=sys.stderr))
        self._env = startup_env(env)
        self._proc: Optional[subprocess.Popen] = None
        self._channel: Optional[socket.socket] = None
        self._ready = False
        self._failed = False
        try:
            self._start(env)
        except OSError as exc:
            self._fail(f"cannot start ({exc})")

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None

    @property
    def active(self) -> bool:
        return not self._failed

    def popen(self, argv: list, *, env: dict, cwd: Optional[str] = None, **spawn_options):
        """A forked node when it can be one, else `subprocess.Popen(argv, ...)`."""
        if self.active and self._can_fork(argv, env):
            forked = self._fork(argv, env, cwd)
            if forked is not None:
                return forked
        return subprocess.Popen(argv, env=env, cwd=cwd, **spawn_options)

    def check(self) -> None:
        """Notice (and reap) a fork server that died between requests."""
        if not self._failed and self._proc is not None and self._proc.poll() is not None:
            self._fail(f"exited (code {self._proc.returncode})")

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._proc is not None:  # it holds nothing: the nodes are our children, not its
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None

    # -- internals ---------------------------------------------------------------------------
    def _start(self, env: dict) -> None:
        if _prctl is None or _prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_CHILD_SUBREAPER failed")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self._proc = subprocess.Popen(
                [sys.executable, "-u", "-m", "edge.launch.zygote", str(theirs.fileno())],
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),), process_group=0, preexec_fn=die_with_parent)
        self._channel = ours

    def _can_fork(self, argv: list, env: dict) -> bool:
        return (len(argv) == 4 and argv[0] == sys.executable and argv[1:3] == ["-u", "-m"]
                and startup_env(env) == self._env)

    def _fork(self, argv: list, env: dict, cwd: Optional[str]) -> Optional[ForkedProcess]:
        if not self._ready and not self._await_ready():
            return None
        request = json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode()
        read_fd, write_fd = os.pipe()
        go_read, go_write = os.pipe()  # the node runs once we write here (see zygote)
        try:
            self._channel.settimeout(REPLY_TIMEOUT_S)
            socket.send_fds(self._channel, [request], [write_fd, go_read])
            reply = json.loads(self._channel.recv(4096) or b"null")
        except OSError as exc:
            os.close(read_fd), os.close(go_write)
            if exc.errno == errno.EMSGSIZE:  # this one environment is too big for a packet
                return None
            return self._fail(f"stopped answering ({exc})")
        except ValueError as exc:
            os.close(read_fd), os.close(go_write)
            return self._fail(f"answered nonsense ({exc})")
        finally:
            os.close(write_fd), os.close(go_read)
        if not isinstance(reply, dict) or not isinstance(reply.get("pid"), int):
            os.close(read_fd), os.close(go_write)
            return self._fail(f"could not fork: {reply}" if reply else "has exited")
        try:
            os.write(go_write, b"1")
        except OSError:
            pass  # the node is gone already: its exit shows as any node's would
        finally:
            os.close(go_write)
        return ForkedProcess(reply["pid"], read_fd)

    def _await_ready(self) -> bool:
        self._channel.settimeout(READY_TIMEOUT_S)
        try:
            reply = self._channel.recv(4096)
        except OSError as exc:
            return self._fail(f"did not get ready ({exc})") or False
        if reply != b'{"ready": true}':
            return self._fail("exited before it was ready") or False
        self._ready = True
        return True

    def _fail(self, why: str) -> None:
        if not self._failed:
            self._failed = True
            self.log(f"fork server {why}: starting nodes as separate processes from now on")
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            try:
                self._proc.wait(timeout=2.0)  # reaped now: a zombie would stall reap_orphans
            except subprocess.TimeoutExpired:
                pass
        return None
