"""The supervisor survives anything a control client sends, and nothing outlives it."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from edge.client import Client
from edge.errors import EdgeError, InvalidArgument
from edge.launch.control import ControlClient
from launch_process import EDGE, alive, wait_until

pytestmark = pytest.mark.timeout(60)

GRAPH = """\
name: hard
nodes:
  - name: tick
    type: ticker
    parameters: {rate_hz: 20}
    outputs: {tick: ticks}
  - name: script
    type: spawner.py
    parameters: {k: start}
"""

SPAWNER = r"""import os, subprocess, sys
from edge import Node
node = Node("script")
grandchild = subprocess.Popen([sys.executable, "-c",
    "import signal, time\n"
    "for signum in (signal.SIGINT, signal.SIGTERM): signal.signal(signum, signal.SIG_IGN)\n"
    "print('ignoring', flush=True)\n"
    "time.sleep(120)"], stdout=subprocess.PIPE)
assert grandchild.stdout.readline() == b"ignoring\n"
print("grandchild", grandchild.pid, "config inherited:", "EDGE_NODE_CONFIG" in os.environ,
      flush=True)
for event in node:
    if event.kind == "param":
        print("param event", event.name, repr(event.value), flush=True)
"""


@pytest.fixture
def hard(launch, rt_dir):
    (rt_dir / "spawner.py").write_text(SPAWNER)
    graph = launch(GRAPH, "--grace", "2")
    graph.wait_ready()
    line = graph.wait_for(r"^script\s+\| grandchild \d+")[0]
    grandchild = int(line.split()[3])
    yield graph, grandchild
    if alive(grandchild):
        os.kill(grandchild, signal.SIGKILL)


def call(endpoint: str, method: str, body=None):
    with Client(endpoint, timeout_s=5.0, retries=0) as client:
        try:
            return "ok", client.call(method, body)
        except EdgeError as exc:
            return exc.code, exc.message


HOSTILE_BODIES = ["text", 7, [1, 2], {"no_such_key": 1}, {"node": 5}, {"node": ["tick"]},
                  {"node": "tick", "key": 3, "value": 1}, {"topic": {"a": 1}},
                  {"node": "tick", "pid": "x", "endpoints": "y", "service": 1}, b"\xff" * 64,
                  {"node": {"nested": [[[[]]]]}}, {"command": 1.5}]


def test_every_command_refuses_malformed_bodies_and_keeps_serving(hard):
    graph, _ = hard
    methods = call(graph.control, "methods")[1]
    assert {"node.stop", "param.set", "node.ready", "resolve", "help"} <= set(methods)
    for method in methods:
        if method == "shutdown":
            continue
        for body in HOSTILE_BODIES:
            code, message = call(graph.control, method, body)
            assert code == "INVALID_ARGUMENT", (method, body, message)
    nodes = {n["name"]: n for n in call(graph.control, "nodes")[1]}
    assert nodes["tick"]["state"] == nodes["script"]["state"] == "running"
    assert nodes["tick"]["restarts"] == 0 and "Traceback" not in graph.output


REFUSED = [  # (node, key, value, why): each would have been stored and handed on before
    ("tick", "rate_hz", float("inf"), "expected a finite number"),
    ("tick", "rate_hz", float("nan"), "expected a finite number"),
    ("tick", "rate_hz", -5, "expected at least 0.001"),
    ("script", "k", b"hi", "bytes is not a parameter value"),
    ("script", "k", {"deep": [1.0, float("-inf")]}, "expected a finite number"),
]
REFUSED_BY_THE_CLI = [  # (node, key, VALUE as typed, why)
    ("script", "k", "!!binary aGk=", "bytes is not a parameter value"),
    ("tick", "rate_hz", "2024-01-01", "date is not a parameter value"),
    ("tick", "rate_hz", ".inf", "expected a finite number"),
]


def test_values_that_cannot_work_are_refused_before_anything_is_stored(hard, edge_env):
    graph, _ = hard
    with ControlClient(graph.control) as control:
        before = {name: control.param_get(name) for name in ("tick", "script")}
        for node, key, value, why in REFUSED:
            with pytest.raises(InvalidArgument, match=why):
                control.param_set(node, key, value)
        for node, key, text, why in REFUSED_BY_THE_CLI:
            result = subprocess.run([EDGE, "param", "set", node, key, text], env=edge_env,
                                    capture_output=True, text=True, timeout=30)
            assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
            assert result.stderr.startswith("error: INVALID_ARGUMENT: ") and why in result.stderr
        for name in ("tick", "script"):  # a stored bad value would be handed to the new process
            assert control.restart(name)["state"] == "running"
            assert control.param_get(name) == before[name]
    assert "param event" not in graph.output and "Traceback" not in graph.output, graph.output


def test_live_values_reach_a_script_node_and_survive_its_restart(hard):
    graph, _ = hard
    value = [1, "two", {"three": 3.5}]
    with ControlClient(graph.control) as control:
        assert control.param_set("script", "k", value) == {"key": "k", "value": value}
        graph.wait_for(r"^script\s+\| param event k \[1, 'two', \{'three': 3.5\}\]$")
        # the body key `name` is the old name of `node`, still accepted
        restarted = control.call("node.restart", {"name": "script"}, timeout_s=30)
        assert restarted["state"] == "running" and restarted["restarts"] == 1
        assert control.param_get("script", "k") == value


def test_kill_9_of_the_supervisor_ends_every_node_and_what_they_started(hard):
    graph, grandchild = hard
    assert "config inherited: False" in graph.output  # what a node starts is no node
    with ControlClient(graph.control) as control:
        pids = [n["pid"] for n in control.nodes()]
    assert all(alive(pid) for pid in pids + [grandchild])
    os.kill(graph.proc.pid, signal.SIGKILL)
    graph.proc.wait(timeout=10)
    wait_until(lambda: not any(alive(pid) for pid in pids + [grandchild]), 20,
               "every node and the grandchild (which ignores SIGINT and SIGTERM) to be gone")


def test_a_stale_control_socket_means_no_running_launch(rt_dir, edge_env):
    path = rt_dir / "control.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, as after a supervisor killed with SIGKILL
    assert path.exists()
    result = subprocess.run([EDGE, "nodes"], env=edge_env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 1
    assert result.stderr == (f"error: UNAVAILABLE: no running launch found (a stale control "
                             f"socket at {path}); start one with `edge launch FILE`, or pass "
                             "--control for a remote one\n")


def test_the_loop_sleeps_while_nothing_happens(launch):
    """Exits arrive as events: an idle supervisor does not wake every few milliseconds."""
    graph = launch("nodes:\n  - {name: slow, type: ticker, parameters: {rate_hz: 0.01}, "
                   "outputs: {tick: t}}\n")
    graph.wait_ready()

    def switches() -> int:
        status = Path(f"/proc/{graph.proc.pid}/task/{graph.proc.pid}/status").read_text()
        return int(status.split("voluntary_ctxt_switches:")[1].split()[0])
    before = switches()
    time.sleep(2.0)  # the thing measured: what the loop does when nothing happens
    woke = switches() - before
    assert woke < 15, f"the supervisor's loop woke {woke} times in 2 s of nothing"
