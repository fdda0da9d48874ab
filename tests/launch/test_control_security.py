"""A TCP control endpoint is CURVE: no key, an unknown key or a read key cannot stop the graph."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import msgpack
import pytest
import zmq

from edge.security import keys
from edge.errors import PermissionDenied, ServiceTimeout
from edge.launch.control import ControlClient
from launch_process import EDGE, Launch, counter_graph, read_sink, wait_until
from test_control import free_tcp_port

pytestmark = pytest.mark.timeout(90)


def run_edge(env: dict, *args: str, ok: bool = True) -> str:
    result = subprocess.run([EDGE, *args], env=env, capture_output=True, text=True, timeout=40)
    assert (result.returncode == 0) == ok, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout if ok else result.stderr


def raw_req_gets_no_reply(endpoint: str, method: str, timeout_ms: int = 1500) -> bool:
    """What an attacker's plain REQ socket gets: the CURVE handshake fails, nothing comes back."""
    socket = zmq.Context.instance().socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    try:
        socket.connect(endpoint)
        socket.send(msgpack.packb({"v": 1, "id": 1, "method": method, "body": None}))
        return socket.poll(timeout_ms) == 0
    finally:
        socket.close(linger=0)


@pytest.fixture
def stranger(edge_env):
    """Another user's environment: its own key pair, told the graph owner's server key."""
    directory = tempfile.mkdtemp(prefix="edge-stranger-")
    env = {**edge_env, "EDGE_KEYS_DIR": directory,
           "EDGE_SERVER_KEY": keys.load_identity().public.decode()}
    identity = keys.init(Path(directory))
    yield env, identity
    owner_keys = Path(edge_env["EDGE_KEYS_DIR"])
    if (keys.authorized_dir(owner_keys) / "stranger.key").exists():
        keys.revoke("stranger", owner_keys)
    shutil.rmtree(directory, ignore_errors=True)


def test_tcp_control_admits_only_trusted_keys_and_roles(launch, rt_dir, edge_env, stranger,
                                                        monkeypatch):
    sink = rt_dir / "sink.txt"
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    graph = launch(counter_graph(sink, name="sec", rate_hz=40), "--control", endpoint)
    graph.wait_ready()

    # no key at all: no reply, and the graph keeps running
    assert raw_req_gets_no_reply(endpoint, "shutdown")
    assert raw_req_gets_no_reply(endpoint, "node.stop")
    # the owner's own CLI: no extra flags
    assert "counter  running" in run_edge(edge_env, "nodes", "--control", endpoint)

    # an unknown key (this test process, as the stranger): refused and logged, no reply
    env, identity = stranger
    monkeypatch.setenv("EDGE_KEYS_DIR", env["EDGE_KEYS_DIR"])
    monkeypatch.setenv("EDGE_SERVER_KEY", env["EDGE_SERVER_KEY"])
    with pytest.raises(ServiceTimeout):
        with ControlClient(endpoint, timeout_s=1.0, retries=0) as client:
            client.call("nodes")
    graph.wait_for("refused CURVE key " + re.escape(identity.public.decode()))

    # trusted as `read`: may look, may not touch
    keys.trust("stranger", identity.public.decode(), role="read",
               directory=Path(edge_env["EDGE_KEYS_DIR"]))
    with ControlClient(endpoint, timeout_s=5.0, retries=0) as client:
        assert {n["name"]: n["state"] for n in client.nodes()}["counter"] == "running"
        assert {t["topic"] for t in client.topics()} == {"numbers", "scaled"}
        assert client.param_get("counter", "rate_hz") == 40.0
        assert client.stats("sink")["inputs"]["in"]["received"] > 0
        for method, body in (("node.stop", {"name": "counter"}), ("shutdown", None),
                             ("param.set", {"node": "counter", "key": "rate_hz", "value": 1}),
                             ("node.restart", {"name": "sink"}), ("node.ready", {"name": "sink"})):
            with pytest.raises(PermissionDenied, match="'stranger' has role 'read'"):
                client.call(method, body)
    denied = run_edge(env, "node", "stop", "counter", "-c", endpoint, ok=False)
    assert denied.startswith("error: PERMISSION_DENIED: 'node.stop' needs an admin key")
    monkeypatch.undo()
    with ControlClient(endpoint) as client:
        assert all(n["state"] == "running" and n["restarts"] == 0 for n in client.nodes())
    before = len(read_sink(sink))
    wait_until(lambda: len(read_sink(sink)) > before + 5, 10, "the graph still streaming")

    # promoted to admin: now it may stop the graph
    keys.trust("stranger", identity.public.decode(), role="admin",
               directory=Path(edge_env["EDGE_KEYS_DIR"]))
    assert run_edge(env, "shutdown", "-c", endpoint).startswith("stopping graph 'sec'")
    assert graph.wait_exit() == 0


def test_insecure_control_is_plain_tcp_with_a_warning(rt_dir, edge_env):
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    path = rt_dir / "open.yaml"
    path.write_text(counter_graph(rt_dir / "sink.txt", name="open"))
    graph = Launch(path, {**edge_env, "EDGE_INSECURE": "1"}, ["--control", endpoint])
    try:
        graph.wait_for("WARNING: INSECURE: tcp://127.0.0.1")
        graph.wait_ready()
        assert not raw_req_gets_no_reply(endpoint, "ping")   # anyone gets in: that is the point
        # a CURVE client gets nothing from a plain server: both sides must agree
        assert run_edge(edge_env, "call", endpoint, "ping", "--timeout", "1", "--retries", "0",
                        ok=False).startswith("error: UNAVAILABLE")
        assert run_edge(edge_env, "--insecure", "shutdown", "-c", endpoint).startswith(
            "stopping graph 'open'")
        assert graph.wait_exit() == 0
    finally:
        graph.kill()
