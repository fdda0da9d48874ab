"""`edge agent` on loopback: start a node, stream its output, stop it without heartbeats."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from edge.client import Client
from edge.config import NodeConfig
from edge.errors import InvalidArgument
from launch_process import EDGE, alive, wait_until
from test_control import free_tcp_port

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def agent(edge_env):
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    proc = subprocess.Popen([EDGE, "agent", "--listen", endpoint, "--heartbeat-timeout", "1.5"],
                            env=edge_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        assert "listening on" in proc.stdout.readline()
        yield endpoint, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def ticker_config(name: str) -> str:
    return NodeConfig(name=name, type="nodes.basic:Ticker", parameters={"rate_hz": 50.0},
                      outputs={"tick": {"topic": "ticks"}}).to_json()


def test_agent_runs_a_node_reports_its_exit_and_stops_it_without_heartbeats(agent):
    endpoint, proc = agent
    with Client(endpoint, timeout_s=5, retries=0) as client:
        started = client.call("agent.start", {"session": "s1", "config": ticker_config("tick"),
                                              "env": {"EDGE_TEST_MARK": "yes"}})
        pid = started["pid"]
        assert alive(pid) and started["boot_id"]
        environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        assert b"EDGE_TEST_MARK=yes" in environ
        with pytest.raises(InvalidArgument, match="config is not a node config"):
            client.call("agent.start", {"session": "s1", "config": "{]", "env": {}})
        with pytest.raises(InvalidArgument, match="grace_s"):
            client.call("agent.stop", {"session": "s1", "name": "tick", "grace_s": "soon"})
        # a second launcher session polls, the first falls silent: its node is stopped
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            reply = client.call("agent.poll", {"session": "s2", "cursor": 0})
            assert reply["boot_id"] == started["boot_id"] and reply["nodes"] == {}
            time.sleep(0.2)
        assert not alive(pid)
        # an explicit stop of a node the session polls for: an exit event arrives
        again = client.call("agent.start", {"session": "s2", "config": ticker_config("tick"),
                                            "env": {}})
        client.call("agent.stop", {"session": "s2", "name": "tick", "grace_s": 2.0})
        events = wait_until(lambda: [e for e in client.call(
            "agent.poll", {"session": "s2", "cursor": 0})["events"] if e[1] == "exit"],
            10, "the exit event")
        assert events[0][2] == "tick" and events[0][3]["pid"] == again["pid"]
        # output is streamed back line by line, then the exit code
        bad = NodeConfig(name="bad", type="nodes.basic:Ticker", parameters={"nope": 1}).to_json()
        client.call("agent.start", {"session": "s2", "config": bad, "env": {}})
        events = wait_until(lambda: [e for e in client.call(
            "agent.poll", {"session": "s2", "cursor": 0})["events"] if e[2] == "bad"
            and e[1] == "exit"] and client.call("agent.poll", {"session": "s2", "cursor": 0})[
            "events"], 10, "the bad node's output and exit")
        lines = [e[3] for e in events if e[1] == "line" and e[2] == "bad"]
        assert any("nope" in line for line in lines), lines
        assert [e[3]["exit_code"] for e in events if e[1] == "exit" and e[2] == "bad"] == [2]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert "silent for" in proc.stdout.read()


SCRIPT = b"print('hello from a script node', flush=True)\n"


def test_agent_stores_a_node_script_in_its_runtime_dir_and_refuses_hostile_ones(agent, rt_dir):
    endpoint, proc = agent
    config = NodeConfig(name="scripted", type="/launcher/only/my_node.py").to_json()
    with Client(endpoint, timeout_s=5, retries=0) as client:
        for name in ("../escape.py", "/etc/x.py", ".hidden.py", "a/b.py", "x.sh", "x" * 70 + ".py",
                     None):
            with pytest.raises(InvalidArgument, match="script name must be a plain NAME.py"):
                client.call("agent.start", {"session": "s4", "config": config, "env": {},
                                            "script": {"name": name, "source": SCRIPT}})
        with pytest.raises(InvalidArgument, match="more than the 524288 an agent accepts"):
            client.call("agent.start", {"session": "s4", "config": config, "env": {},
                                        "script": {"name": "big.py", "source": b"#" * 524289}})
        with pytest.raises(InvalidArgument, match="plain token"):
            client.call("agent.start", {"session": "../s4", "config": config, "env": {},
                                        "script": {"name": "ok.py", "source": SCRIPT}})
        assert not [p for p in rt_dir.rglob("*.py")] and not (rt_dir.parent / "escape.py").exists()
        client.call("agent.start", {"session": "s4", "config": config, "env": {},
                                    "script": {"name": "my_node.py", "source": SCRIPT}})
        events = wait_until(lambda: [e for e in client.call(
            "agent.poll", {"session": "s4", "cursor": 0})["events"] if e[2] == "scripted"
            and e[1] == "exit"] and client.call("agent.poll", {"session": "s4", "cursor": 0})[
            "events"], 10, "the script's output and exit")
        assert "hello from a script node" in [e[3] for e in events if e[1] == "line"]
        stored = list(rt_dir.glob("agent-*/s4/my_node.py"))
        assert len(stored) == 1 and stored[0].read_bytes() == SCRIPT
        assert oct(stored[0].stat().st_mode & 0o777) == "0o600"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert not list(rt_dir.glob("agent-*"))   # an agent that ends takes its scripts along


def test_a_held_poll_is_answered_when_something_happens_or_when_its_wait_ends(agent):
    """A launcher keeps one poll waiting: an exit (or a line) answers it at once, silence
    after wait_ms; waiting polls are heartbeats (the fixture's timeout is 1.5 s)."""
    endpoint, _ = agent
    with Client(endpoint, timeout_s=5, retries=0) as client:
        started = client.call("agent.start", {"session": "s5", "config": ticker_config("tick"),
                                              "env": {}})
        cursor = max([e[0] for e in client.call(
            "agent.poll", {"session": "s5", "cursor": 0})["events"]], default=0)
        with pytest.raises(InvalidArgument, match="wait_ms must be 0..2000"):
            client.call("agent.poll", {"session": "s5", "cursor": cursor, "wait_ms": 5000})
        for _ in range(2):  # 2 x 1 s of held polls: longer than the heartbeat timeout
            began = time.monotonic()
            reply = client.call("agent.poll", {"session": "s5", "cursor": cursor, "wait_ms": 1000})
            cursor = max([e[0] for e in reply["events"]], default=cursor)
            assert reply["events"] or time.monotonic() - began >= 0.9
        assert alive(started["pid"]), reply   # not stopped as a silent launcher's
        client.call("agent.stop", {"session": "s5", "name": "tick", "grace_s": 2.0})
        while True:  # polls held while the node stops; the one that brings its exit is early
            began = time.monotonic()
            reply = client.call("agent.poll", {"session": "s5", "cursor": cursor, "wait_ms": 2000})
            took = time.monotonic() - began
            cursor = max([e[0] for e in reply["events"]], default=cursor)
            exits = [e for e in reply["events"] if e[1] == "exit"]
            if exits:
                break
        assert exits[0][3]["pid"] == started["pid"]
        assert took < 1.8, took  # answered by the exit, not by the end of its wait


@pytest.mark.parametrize("method, body, words", [
    ("agent.start", {"env": {"A=B": "1"}}, "env 'A=B' is not a valid variable"),
    ("agent.start", {"env": {"A": "x\0y"}}, "env 'A' is not a valid variable"),
    ("agent.start", {"config": ticker_config("../../escape")}, "node name '../../escape'"),
    ("agent.start", {"config": ticker_config("")}, "node name ''"),
    ("agent.start", {"config": "[" * 100_000}, "nests too deeply"),
    ("agent.start", {"config": ticker_config("tick").replace('"ticks"', "5")},
     "outputs.tick.topic must be a string, got 5"),
    ("agent.start", {"config": ticker_config("tick").replace('"launched": false',
                                                             '"launched": "yes"')},
     "launched must be true or false"),
    ("agent.stop", {"name": ["tick"]}, "name: str"),
    ("agent.stop", {"name": {}}, "name: str"),
])
def test_agent_refuses_bodies_it_cannot_run_with_invalid_argument(agent, method, body, words):
    """Not INTERNAL (a traceback in the agent's log), and nothing is started."""
    endpoint, _ = agent
    with Client(endpoint, timeout_s=5, retries=0) as client:
        full = {"session": "s1", "config": ticker_config("tick"), "env": {}, **body}
        with pytest.raises(InvalidArgument, match=re.escape(words)):
            client.call(method, full)
        assert client.call("agent.nodes") == []
