"""`edge model serve` in a child process, for tests that need real sockets and kill -9.

The server prints its bound endpoint once it serves; every wait has a deadline and
`stop` always ends the process (SIGTERM, then SIGKILL).
"""
from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge.launch.control import ControlClient

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
READY_PREFIX = "model manager serving on "
GRPC_RE = re.compile(r"grpc (\S+?)\)?$")


def service_of(control, name: str, old_pid: int | None = None) -> str:
    """The service endpoint of launched node `name` once ready (a new pid after `old_pid`)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        node = next(n for n in control.nodes() if n["name"] == name)
        if node["ready"] and node["service"] and node["pid"] != old_pid:
            return node["service"]
        time.sleep(0.1)
    raise AssertionError(f"node {name!r} never became ready")


def wait_for_line(proc: subprocess.Popen, text: str, timeout_s: float = START_TIMEOUT_S) -> None:
    """Read `proc`'s output until a line contains `text`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            assert line, f"the process ended before printing {text!r}"
            if text in line:
                return
    raise AssertionError(f"the process did not print {text!r} in {timeout_s}s")


@contextmanager
def launched_manager(tmp_path: Path, extra: str = "") -> Iterator[tuple[subprocess.Popen,
                                                                        ControlClient]]:
    """`edge launch` of one node, the model manager `models` (repo under tmp_path, one
    worker; `extra` adds lines to its entry), once ready: the process and a ControlClient
    on its control endpoint. The process is killed at the end, whatever happened."""
    runtime = Path(tempfile.mkdtemp(prefix="mml", dir="/tmp"))  # ipc paths: 107 bytes at most
    launch = tmp_path / "models.yaml"
    launch.write_text(f"name: models\nnodes:\n  - name: models\n    type: model_manager\n"
                      f"    parameters: {{repo: {tmp_path / 'repo'}, workers: 1}}\n{extra}")
    env = {**os.environ, "EDGE_RUNTIME_DIR": str(runtime), "PYTHONUNBUFFERED": "1"}
    env.pop("EDGE_CONTROL", None)
    proc = subprocess.Popen([*edge_command(), "launch", str(launch), "--no-color"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_line(proc, "ready")
        with ControlClient(f"ipc://{runtime}/control.sock") as control:
            yield proc, control
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(START_TIMEOUT_S)
        proc.stdout.close()
        shutil.rmtree(runtime, ignore_errors=True)


def edge_command() -> list[str]:
    """The installed `edge` script of this interpreter's environment."""
    script = Path(sys.executable).with_name("edge")
    if script.exists():
        return [str(script)]
    found = shutil.which("edge")
    assert found, "the `edge` command is not installed (pip install -e .)"
    return [found]


class ServerProcess:
    def __init__(self, repo: Path, endpoint: str, log_path: Path, *args: str) -> None:
        self.repo, self.requested, self.log_path, self.args = repo, endpoint, log_path, args
        self.proc: subprocess.Popen | None = None
        self.endpoint = ""
        self.grpc_address = ""

    def start(self) -> ServerProcess:
        command = [*edge_command(), "model", "serve", "--repo", str(self.repo),
                   "--endpoint", self.requested, *self.args]
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        finally:
            log.close()
        line = self._read_line(START_TIMEOUT_S)
        assert line.startswith(READY_PREFIX), f"unexpected first line {line!r}; log: {self.log()}"
        self.endpoint = line[len(READY_PREFIX):].split()[0]
        found = GRPC_RE.search(line)
        self.grpc_address = found.group(1) if found else ""
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def _read_line(self, timeout_s: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        assert ready, f"server did not start within {timeout_s}s; log: {self.log()}"
        return self.proc.stdout.readline()

    def kill9(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        return self._reap(STOP_TIMEOUT_S)

    def stop(self) -> int | None:
        """SIGTERM, a grace period, then SIGKILL; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self._reap(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self._reap(STOP_TIMEOUT_S)

    def _reap(self, timeout_s: float) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout_s)
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()
        return code
