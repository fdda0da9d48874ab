"""A running `edge launch` for tests, and what tests look at: /proc, output, sink files.

Also the fixtures every test of launched graphs uses (tests/launch, tests/bag), and the
process with collected output that tests/multihost starts in network namespaces.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
EDGE = str(Path(sys.executable).parent / "edge")


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True for a running process (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(predicate, timeout_s: float, what: str, interval_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


class OutputProcess:
    """A process in its own session, its output (stderr merged) collected line by line."""

    def __init__(self, argv: list[str], env: dict):
        self.env = env
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def mark(self) -> int:
        """How many lines there are now: wait_for(..., since=mark) looks only after them."""
        with self._changed:
            return len(self.lines)

    def wait_for(self, pattern: str, timeout_s: float = 30.0, count: int = 1,
                 since: int = 0) -> list[str]:
        """Wait until `count` output lines (after the first `since`) match the regex `pattern`;
        returns as soon as they do: the timeout only guards against a hang."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                found = [line for line in self.lines[since:] if regex.search(line)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no {count} line(s) matching {pattern!r} in "
                                         f"{timeout_s} s; output:\n" + "\n".join(self.lines))
                self._changed.wait(min(remaining, 0.1))

    def wait_exit(self, timeout_s: float = 30.0) -> int:
        """The exit code; the timeout only guards against a hang (stops are slow under load)."""
        code = self.proc.wait(timeout=timeout_s)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        """SIGKILL the process and everything below it."""
        if self.proc.poll() is None:
            for pid in [*descendants(self.proc.pid), self.proc.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc.wait(timeout=10)


class Launch(OutputProcess):
    """`edge launch FILE` and its control endpoint."""

    def __init__(self, path: Path, env: dict, args: list):
        self.control = f"ipc://{env['EDGE_RUNTIME_DIR']}/control.sock"
        super().__init__([EDGE, "launch", str(path), "--no-color", *args], env)

    def wait_ready(self, timeout_s: float = 45.0) -> None:
        self.wait_for(r"edge\s+\| all \d+ node\(s\) ready", timeout_s)


def read_sink(path: Path) -> list[tuple[int, str, int, int]]:
    """(pid, topic, seq, value) lines written by graph_nodes.Sink."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4:
            rows.append((int(parts[0]), parts[1], int(parts[2]), int(parts[3])))
    return rows


def counter_graph(sink_path, *, name: str = "stream", rate_hz: int = 50, extra: str = "") -> str:
    """counter -> scale -> sink: the streaming graph the supervisor and control tests launch."""
    return f"""\
name: {name}
nodes:
  - name: counter
    type: graph_nodes:Counter
    parameters: {{rate_hz: {rate_hz}}}
    outputs: {{count: numbers}}
  - name: scale
    type: graph_nodes:Scale
    inputs: {{in: numbers}}
    outputs: {{out: scaled}}
  - name: sink
    type: graph_nodes:Sink
    parameters: {{path: {sink_path}}}
    inputs: {{in: scaled}}
{extra}"""


# -- fixtures (imported by the conftest.py of tests/launch and tests/bag) -------------------
@pytest.fixture
def rt_dir():
    """A short runtime dir for ipc sockets (pytest's tmp_path can exceed 107 bytes)."""
    path = Path(tempfile.mkdtemp(dir="/tmp", prefix="edt"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def edge_env(rt_dir):
    """The environment of a launched graph: its own runtime dir, graph_nodes importable."""
    env = dict(os.environ)
    env.pop("EDGE_CONTROL", None)
    env.pop("EDGE_NODE_CONFIG", None)
    env["EDGE_RUNTIME_DIR"] = str(rt_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


@pytest.fixture
def launched():
    """The Launch handles a test started: every one is killed at teardown."""
    started: list[Launch] = []
    yield started
    for handle in started:
        handle.kill()
