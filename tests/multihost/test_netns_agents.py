"""One launch file over three machines (namespaces): agents, CURVE topics, losing an agent.

camera (10.77.0.1): `edge agent`, runs the ticker ("camera")
compute (10.77.0.2): `edge agent`, runs relay + recorder
operator (10.77.0.3): `edge launch --control tcp://10.77.0.3:5600`, and `edge nodes`
"""
from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pytest

from edge.security import keys
from edge.bag.reader import read_messages
from messages import DecodeError
from netns import EDGE, network_or_skip

pytestmark = pytest.mark.timeout(120)


def graph_text(net, record_path) -> str:
    cam, comp = net.hosts["camera"], net.hosts["compute"]
    cam_key = keys.load_identity(cam.keys_dir).public.decode()
    comp_key = keys.load_identity(comp.keys_dir).public.decode()
    return textwrap.dedent(f"""\
        name: robot
        hosts:
          camera: {{address: {cam.address}, key: "{cam_key}"}}
          compute: {{address: {comp.address}, key: "{comp_key}", agent: 5710}}
        nodes:
          - {{name: camera, type: ticker, host: camera, parameters: {{rate_hz: 20}},
              outputs: {{tick: frames}}}}
          - {{name: relay, type: relay, host: compute, inputs: {{in: frames}},
              outputs: {{out: relayed}}}}
          - {{name: recorder, type: recorder, host: compute, parameters: {{path: {record_path}}},
              inputs: {{in: relayed}}, env: {{OMP_NUM_THREADS: "1"}}}}
          - {{name: probe, type: ./probe_node.py, host: compute}}
        """)


# a node type given as a script on the launcher's machine: the launcher sends it to the agent
PROBE = """\
import os
from edge import Node
node = Node("probe")
print("probe runs from", os.path.dirname(os.path.abspath(__file__)), flush=True)
for event in node:
    pass
node.close()
"""


def records(path) -> list[dict]:
    """What the recorder wrote so far: its MCAP files (a restart starts NAME-1.mcap, ...)."""
    found = []
    for bag in sorted(path.parent.glob(path.stem + "*.mcap")):
        try:
            found += [{"source": m.message.source, "stamp_ns": m.message.stamp_ns,
                       "received_ns": m.log_time_ns} for m in read_messages(str(bag))]
        except DecodeError:
            return []   # caught mid-write; ask again
    return found


def wait_until(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_graph_across_namespaces_with_agents_and_recovery():
    with network_or_skip(["camera", "compute", "operator"]) as net:
        cam, comp, op = (net.hosts[n] for n in ("camera", "compute", "operator"))
        for host in (cam, comp, op):
            keys.init(host.keys_dir)
        operator_key = keys.load_identity(op.keys_dir).public.decode()
        for host in (cam, comp):   # on each robot board: `edge keys trust laptop KEY --role admin`
            keys.trust("operator", operator_key, role="admin", directory=host.keys_dir)
        record_path = comp.dir / "records.mcap"
        (op.dir / "robot.yaml").write_text(graph_text(net, record_path))
        (op.dir / "probe_node.py").write_text(PROBE)
        checked = op.run(EDGE, "check", str(op.dir / "robot.yaml"))
        assert checked.returncode == 0 and "ok (graph 'robot': 4 node(s)" in checked.stdout

        agent_ports = {"camera": 5700, "compute": 5710}
        agents = {h.name: net.start(h.name, EDGE, "agent", "--listen",
                                    f"tcp://{h.address}:{agent_ports[h.name]}")
                  for h in (cam, comp)}
        for agent in agents.values():
            agent.wait_for("listening on tcp://")
        control = f"tcp://{op.address}:5600"
        launched_at = time.monotonic()
        launch = net.start("operator", EDGE, "launch", str(op.dir / "robot.yaml"), "--no-color",
                           "--control", control)
        [ready] = launch.wait_for(r"all 4 node\(s\) ready", 60)
        print(f"edge launch -> {ready.split('| ')[-1]} (supervisor clock); "
              f"{time.monotonic() - launched_at:.2f} s from starting `edge launch`")
        probe = launch.wait_for(r"^probe\s+\| probe runs from ", 10)[0].split("from ")[-1]
        assert probe.startswith(str(comp.runtime_dir / "agent-")), probe   # the agent's own dir

        # messages flow camera -> relay -> recorder across two namespaces, over CURVE
        first = wait_until(lambda: len(records(record_path)) >= 20 and records(record_path),
                           30, "20 records on compute")
        latencies_ms = sorted((r["received_ns"] - r["stamp_ns"]) / 1e6 for r in first[-20:])
        print(f"camera -> relay -> recorder across namespaces: p50 {latencies_ms[10]:.2f} ms, "
              f"max {latencies_ms[-1]:.2f} ms over 20 messages")
        assert all(r["source"] == "relay" for r in first)
        # relay -> recorder share the compute host: the relay binds ipc there too
        assert [p.name for p in comp.runtime_dir.glob("*.pub.sock")], "no ipc on compute"
        assert not list(cam.runtime_dir.glob("*.pub.sock"))   # camera's only reader is remote

        # `edge nodes` from the operator's machine: every node, with its host
        shown = op.run(EDGE, "nodes", "--json", "-c", control)
        assert shown.returncode == 0, shown.stderr
        nodes = {n["name"]: n for n in json.loads(shown.stdout)}
        assert {n: (v["state"], v.get("host")) for n, v in nodes.items()} == {
            "camera": ("running", "camera"), "relay": ("running", "compute"),
            "recorder": ("running", "compute"), "probe": ("running", "compute")}
        table = op.run(EDGE, "nodes", "-c", control).stdout.splitlines()
        assert table[0].split()[:3] == ["NAME", "STATE", "HOST"]
        column = table[0].index("HOST")   # aligned: each host starts under the title
        assert {row.split()[0]: row[column:].split()[0] for row in table[1:]} == {
            "camera": "camera", "relay": "compute", "recorder": "compute", "probe": "compute"}
        assert op.run(EDGE, "param", "set", "camera", "rate_hz", "40", "-c",
                      control).returncode == 0
        # an ad-hoc subscriber on the operator's machine joins through the control endpoint
        echo = op.run(EDGE, "topic", "echo", "relayed", "--count", "3", "--duration", "20")
        assert echo.returncode == 0 and echo.stdout.count("from relay") == 3, echo.stderr

        topics = {t["topic"]: t for t in json.loads(op.run(EDGE, "topic", "list", "--json", "-c",
                                                           control).stdout)}
        assert topics["frames"]["publisher"] == "camera" and topics["frames"]["rate_hz"] > 0

        # a remote node that dies on its own: the restart policy, as for a local one; the
        # value set live is kept for the new process
        os.kill(nodes["camera"]["pid"], 9)
        launch.wait_for(r"node 'camera' on host 'camera' was killed by SIGKILL; restarting", 10)
        launch.wait_for(r"node 'camera' ready again", 20)
        value = op.run(EDGE, "param", "get", "camera", "rate_hz", "-c", control)
        assert value.stdout.strip() == "40.0", value.stderr
        stopped = op.run(EDGE, "node", "stop", "probe", "-c", control)
        assert stopped.stdout.startswith("stopped probe: stopped"), stopped.stderr
        started = op.run(EDGE, "node", "start", "probe", "-c", control)
        assert started.stdout.startswith("started probe: running"), started.stderr

        # kill -9 the compute agent: its nodes go with it; the launcher notices and retries;
        # systemd would restart the agent; so do we
        agents["compute"].kill()
        launch.wait_for(r"node 'relay' lost: .*not answering", 30)
        agents["compute"] = net.start("compute", EDGE, "agent", "--listen",
                                      f"tcp://{comp.address}:5710")
        agents["compute"].wait_for("listening on tcp://", 30)
        launch.wait_for(r"node 'recorder' ready again", 60)
        count = len(records(record_path))
        wait_until(lambda: len(records(record_path)) > count + 10, 30, "records after recovery")

        # the compute board's cable is out for longer than the heartbeat: the agent stops the
        # launcher's nodes, the launcher marks them lost; plugged in again, they come back
        seen, agent_seen = launch.mark(), agents["compute"].mark()
        comp.link("down")
        launch.wait_for(r"node 'relay' lost: .*not answering", 15, since=seen)
        agents["compute"].wait_for(r"silent for .* stopping its 3 node", 10, since=agent_seen)
        comp.link("up")
        launch.wait_for(r"node 'recorder' ready again", 30, since=seen)
        count = len(records(record_path))
        wait_until(lambda: len(records(record_path)) > count + 10, 30, "records after the cable")
        nodes = {n["name"]: n for n in json.loads(op.run(EDGE, "nodes", "--json", "-c",
                                                         control).stdout)}
        assert nodes["relay"]["state"] == "running" and nodes["relay"]["restarts"] >= 1
        assert nodes["camera"]["restarts"] == 1
        # control of a remote node works as for a local one
        restarted = op.run(EDGE, "node", "restart", "recorder", "-c", control)
        assert restarted.stdout.startswith("restarted recorder: running"), restarted.stderr
        shown = {n["name"]: n for n in json.loads(op.run(EDGE, "nodes", "--json", "-c",
                                                         control).stdout)}
        environ = Path(f"/proc/{shown['recorder']['pid']}/environ").read_bytes().split(b"\0")
        assert b"OMP_NUM_THREADS=1" in environ   # the launch file's env: reaches remote nodes

        # the launcher dies: within the heartbeat timeout the agents stop its nodes
        camera_pid = nodes["camera"]["pid"]
        assert pid_alive(camera_pid)
        launch.kill()
        wait_until(lambda: not pid_alive(camera_pid), 20, "the camera agent to stop its node")
        agents["camera"].wait_for("silent for .* stopping its 1 node", 5)

        # launched again on the same agents; `edge shutdown` stops the remote nodes cleanly
        again = net.start("operator", EDGE, "launch", str(op.dir / "robot.yaml"), "--no-color",
                          "--control", control)
        again.wait_for(r"all 4 node\(s\) ready", 60)
        pids = [n["pid"] for n in json.loads(op.run(EDGE, "nodes", "--json").stdout)]
        assert op.run(EDGE, "shutdown").returncode == 0   # the local ipc endpoint, no flags
        assert again.wait_exit(30) == 0
        assert not [pid for pid in pids if pid_alive(pid)]
