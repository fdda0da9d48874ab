"""The control endpoint from other processes: a raw pyzmq REQ socket, the CLI, the Python client."""
from __future__ import annotations

import socket
import subprocess

import msgpack
import pytest
import zmq

from edge.launch.control import ControlClient
from launch_process import EDGE, counter_graph, read_sink, wait_until

pytestmark = pytest.mark.timeout(60)


class RawReq:
    """Exactly what docs/CONTROL.md tells another language to do."""

    def __init__(self, endpoint: str):
        self.socket = zmq.Context.instance().socket(zmq.REQ)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)
        self.next_id = 0

    def call(self, method: str, body=None, timeout_ms: int = 10000) -> dict:
        self.next_id += 1
        self.socket.send(msgpack.packb({"v": 1, "id": self.next_id, "method": method, "body": body}))
        assert self.socket.poll(timeout_ms), f"no reply to {method}"
        reply = msgpack.unpackb(self.socket.recv())
        assert reply["v"] == 1 and reply["id"] == self.next_id
        return reply

    def close(self) -> None:
        self.socket.close(linger=0)


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_raw_req_socket_nodes_param_set_restart_shutdown(launch, rt_dir):
    sink = rt_dir / "sink.txt"
    graph = launch(counter_graph(sink, name="ctl", rate_hz=40))
    graph.wait_ready()
    req = RawReq(graph.control)
    try:
        pong = req.call("ping")
        assert pong["ok"] and pong["body"]["graph"] == "ctl" and pong["body"]["nodes"] == 3
        nodes = {n["name"]: n for n in req.call("nodes")["body"]}
        assert nodes["scale"]["state"] == "running" and nodes["scale"]["pid"] > 0
        assert nodes["scale"]["restarts"] == 0 and nodes["scale"]["uptime_s"] > 0

        reply = req.call("param.set", {"node": "scale", "key": "gain", "value": 10})
        assert reply == {"v": 1, "id": reply["id"], "ok": True, "body": {"key": "gain", "value": 10}}
        graph.wait_for(r"^scale\s+\| param event gain=10$")  # the node got an event
        count = len(read_sink(sink))
        wait_until(lambda: [r for r in read_sink(sink)[count:] if r[3] % 10 == 0 and r[3] >= 10],
                   10, "scaled values")
        assert req.call("param.get", {"node": "scale", "key": "gain"})["body"] == 10

        restarted = req.call("node.restart", {"node": "scale"}, timeout_ms=30000)["body"]
        assert restarted["state"] == "running" and restarted["pid"] != nodes["scale"]["pid"]
        assert restarted["restarts"] == 1
        # the live value survives the restart
        assert req.call("param.get", {"node": "scale", "key": "gain"})["body"] == 10

        errors = [req.call("node.stop", {"node": "nobody"}), req.call("no.such.method"),
                  req.call("param.set", {"node": "scale", "key": "label", "value": "x"}),
                  req.call("node.stop", "not a map")]
        assert [e["error"]["code"] for e in errors] == \
            ["NOT_FOUND", "UNIMPLEMENTED", "FAILED_PRECONDITION", "INVALID_ARGUMENT"]
        assert all(not e["ok"] and e["error"]["message"] for e in errors)

        assert req.call("shutdown")["body"]["stopping"] is True
    finally:
        req.close()
    assert graph.wait_exit() == 0
    assert "shutdown requested over the control endpoint" in graph.output


@pytest.mark.timeout(240)  # 15 CLI processes and a graph: each start-up takes seconds under load
def test_cli_over_tcp_and_local_ipc(launch, rt_dir, edge_env):
    port = free_tcp_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    graph = launch(counter_graph(rt_dir / "sink.txt", name="ctl", rate_hz=40),
                   "--control", endpoint)
    graph.wait_ready()

    def edge(*args, ok=True):
        result = subprocess.run([EDGE, *args], env=edge_env, capture_output=True, text=True, timeout=40)
        assert (result.returncode == 0) == ok, result.stderr
        assert "Traceback" not in result.stderr
        return result.stdout if ok else result.stderr

    table = edge("nodes", "--control", endpoint)
    assert table.splitlines()[0].split() == ["NAME", "STATE", "HOST", "PID", "RESTARTS", "UPTIME", "EXIT",
                                         "TYPE"]
    assert "scale    running" in table
    assert {line.split()[2] for line in table.splitlines()[1:]} == {"local"}  # no host: key
    assert "scale    running" in edge("nodes")  # the local ipc endpoint is bound as well
    topics = edge("topic", "list", "-c", endpoint)
    assert "numbers  counter" in topics and "scale.in" in topics and "/s" in topics
    assert edge("param", "set", "counter", "rate_hz", "20", "-c", endpoint) == "counter.rate_hz = 20.0\n"
    assert edge("param", "get", "counter", "rate_hz", "-c", endpoint).strip() == "20.0"
    assert edge("node", "stop", "counter", "-c", endpoint).startswith("stopped counter: stopped")
    assert "counter  stopped" in edge("nodes", "-c", endpoint)
    assert edge("param", "get", "counter", ok=False).startswith(
        "error: FAILED_PRECONDITION: node 'counter' is stopped")
    assert edge("node", "start", "counter", "-c", endpoint).startswith("started counter: running (pid")
    assert edge("node", "restart", "sink").startswith("restarted sink: running (pid")
    assert edge("node", "stop", "nobody", ok=False) == \
        "error: NOT_FOUND: no node 'nobody' in graph 'ctl' (nodes: counter, scale, sink)\n"
    assert edge("param", "set", "scale", "gain", "many", ok=False) == \
        "error: INVALID_ARGUMENT: parameter 'gain': expected int, got str 'many'\n"
    assert edge("shutdown", "-c", endpoint) == "stopping graph 'ctl' (3 node(s))\n"
    assert graph.wait_exit(40) == 0
    assert edge("nodes", ok=False).startswith("error: UNAVAILABLE: no running launch found")


def test_python_client_topics_stats_resolve(launch, rt_dir):
    graph = launch(counter_graph(rt_dir / "sink.txt", name="ctl", rate_hz=40))
    graph.wait_ready()
    with ControlClient(graph.control) as client:
        topics = {t["topic"]: t for t in client.topics()}
        assert topics["numbers"]["publisher"] == "counter"
        assert topics["numbers"]["subscribers"] == ["scale.in"]
        # a rate is measured (its value is wall-clock speed: test_topicstats checks the sums)
        assert topics["numbers"]["rate_hz"] > 0 and topics["numbers"]["dropped"] >= 0
        assert topics["scaled"]["endpoint"].endswith("/scale.out.pub.sock")  # a socket per output
        resolved = client.resolve("scaled")
        assert resolved == {"topic": "scaled", "endpoint": topics["scaled"]["endpoint"],
                            "external": False, "publisher": "scale"}
        stats = client.stats()
        assert stats["graph"] == "ctl" and stats["nodes"]["sink"]["inputs"]["in"]["received"] > 0
        assert stats["nodes"]["counter"]["published"]["numbers"] > 0
        assert client.stats("scale")["inputs"]["in"]["topic"] == "numbers"
        assert "node.restart" in client.call("help")
        client.shutdown()
    assert graph.wait_exit() == 0
