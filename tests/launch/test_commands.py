"""The control command table without processes: bodies, the surface it may use, its docs."""
from __future__ import annotations

import ast
import inspect
import re
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest

from edge.errors import InvalidArgument, ResourceExhausted
from edge.launch import commands
from edge.launch.commands import COMMANDS, checked_body
from edge.launch.graph import Graph, NodeSpec
from edge.launch.workers import Workers

pytestmark = pytest.mark.timeout(10)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "CONTROL.md"


class SurfaceDouble:
    """Only what commands.ControlSurface declares: any other attribute is an AttributeError."""

    def __init__(self):
        self.graph = Graph(name="g", path=Path("g.yaml"),
                           nodes=[NodeSpec(name="cam", type="camera", outputs={"image": "img"})])
        self.stopping, self.uptime_s = False, 1.5
        self.calls: list = []

    def _done(self, call, value=None) -> Future:
        self.calls.append(call)
        future: Future = Future()
        future.set_result(value)
        return future

    def node_names(self):
        return ["cam"]

    def describe(self, name):
        return {"name": name, "state": "running"}

    def resolve(self, topic):
        return {"topic": topic, "endpoint": "ipc://x", "external": False, "publisher": "cam"}

    def node_ready(self, name, pid, endpoints, service):
        self.calls.append(("ready", name, pid, endpoints, service))

    def start(self, name):
        return self._done(("start", name))

    def stop(self, name):
        return self._done(("stop", name))

    def restart(self, name):
        return self._done(("restart", name))

    def param_get(self, name, key):
        return self._done(("param_get", name, key))

    def param_set(self, name, key, value):
        return self._done(("param_set", name, key, value))

    def stats(self, name):
        return self._done(("stats", name))

    def topics(self):
        return self._done(("topics",))

    def shutdown(self, reason):
        self.calls.append(("shutdown", reason))


VALID = {"node.stop": {"node": "cam"}, "node.start": {"node": "cam"},
         "node.restart": {"node": "cam"}, "param.get": {"node": "cam"},
         "param.set": {"node": "cam", "key": "fps", "value": 5.0}, "resolve": {"topic": "img"},
         "node.ready": {"node": "cam", "pid": 7, "endpoints": {"img": "ipc://x"},
                        "service": None}}


def test_every_command_runs_on_the_public_surface_alone():
    surface = SurfaceDouble()
    for name, cmd in COMMANDS.items():
        result = cmd.run(surface, checked_body(cmd, VALID.get(name)))
        assert result is not None or isinstance(result, Future), name
    assert ("param_set", "cam", "fps", 5.0) in surface.calls
    assert ("ready", "cam", 7, {"img": "ipc://x"}, None) in surface.calls
    assert ("shutdown", "shutdown requested over the control endpoint") in surface.calls


def test_bodies_are_checked_against_the_declared_fields():
    cmd = COMMANDS["param.set"]
    assert checked_body(cmd, {"node": "a", "key": "k", "value": [1]}) == \
        {"node": "a", "key": "k", "value": [1]}
    assert checked_body(COMMANDS["param.get"], {"node": "a"}) == {"node": "a", "key": None}
    assert checked_body(COMMANDS["node.stop"], {"name": "a"}) == {"node": "a"}  # old key
    for body, why in [("x", "got str 'x'"), ({"node": "a", "key": "k"}, "'value' must be"),
                      ({"node": 1, "key": "k", "value": 1}, "'node' must be a string, got 1"),
                      ({"node": "a", "key": "k", "value": 1, "extra": 2}, "unknown key(s): 'extra'"),
                      ({"node": True, "key": "k", "value": 1}, "got True")]:
        with pytest.raises(InvalidArgument, match=re.escape("param.set takes {node, key, value}") + ".*" + re.escape(why)):
            checked_body(cmd, body)
    with pytest.raises(InvalidArgument, match="'pid' must be an integer"):
        checked_body(COMMANDS["node.ready"], {**VALID["node.ready"], "pid": True})
    with pytest.raises(InvalidArgument, match="ping takes no body; unknown key"):
        checked_body(COMMANDS["ping"], {"x": 1})


def test_help_comes_from_the_docstrings():
    surface = SurfaceDouble()
    summaries = COMMANDS["help"].run(surface, {"command": None})
    assert summaries["node.stop"].startswith("Stop a node: its stop event")
    one = COMMANDS["help"].run(surface, {"command": "param.set"})
    assert one["body"] == "{node, key, value}" and "Reply: `{key, value}`" in one["reply"]
    assert all(cmd.summary and cmd.reference.startswith("Reply:") for cmd in COMMANDS.values())


def test_docs_control_md_holds_the_table_made_from_the_docstrings():
    """`python -m edge.launch.commands` prints it; paste it into docs/CONTROL.md."""
    assert commands.markdown_table() in DOCS.read_text()


def test_the_worker_pool_is_bounded_in_threads_and_waiting_work():
    workers = Workers(threads=2, max_pending=3)
    release = threading.Event()
    before = threading.active_count()
    try:
        futures = [workers.submit("slow", release.wait) for _ in range(3)]
        with pytest.raises(ResourceExhausted, match="busy with 3 slow requests"):
            workers.submit("slow", release.wait)
        assert threading.active_count() - before <= 2
        release.set()
        assert all(f.result(timeout=5) for f in futures)
        assert workers.submit("again", lambda: 42).result(timeout=5) == 42
    finally:
        release.set()
        workers.close()


def test_commands_touch_the_supervisor_only_through_the_surface():
    surface = {name for name in dir(commands.ControlSurface) if not name.startswith("_")}
    surface |= set(commands.ControlSurface.__annotations__)
    tree = ast.parse(inspect.getsource(commands))
    used = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "sup"}
    assert used and used <= surface, f"beyond ControlSurface: {sorted(used - surface)}"
