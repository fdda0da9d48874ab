"""`hosts:` and `host:` in launch files: checked whole before anything starts."""
from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import zmq

from edge.config import NodeConfig
from edge.launch.hosts import is_this_machine, place_on_hosts
from edge.launch.wiring import plan
from edge.launch.loader import parse
from edge.launch.validate import check
from launch_process import EDGE

pytestmark = pytest.mark.timeout(30)
KEY = zmq.curve_keypair()[0].decode()


def problems_of(text: str) -> list[str]:
    graph, problems = parse(textwrap.dedent(text), Path("robot.yaml"))
    if graph is not None:
        problems += check(graph)[1]
    return [str(p) for p in problems]


def graph_text(hosts: str, camera_host: str = "camera", relay_host: str = "compute") -> str:
    return f"""\
name: robot
hosts:
{textwrap.indent(textwrap.dedent(hosts), '  ')}
nodes:
  - name: camera
    type: ticker
    host: {camera_host}
    outputs: {{tick: frames}}
  - name: relay
    type: relay
    host: {relay_host}
    inputs: {{in: frames}}
    outputs: {{out: relayed}}
"""


def test_a_good_multi_host_graph_loads_with_its_hosts():
    text = graph_text(f"""\
        camera: {{address: 10.77.0.1, key: "{KEY}"}}
        compute: 10.77.0.2
        """)
    graph, problems = parse(text, Path("robot.yaml"))
    assert problems == [] and check(graph)[1] == []
    assert graph.hosts["camera"].key == KEY and graph.hosts["compute"].address == "10.77.0.2"
    assert [n.host for n in graph.nodes] == ["camera", "compute"]


def test_unknown_host_duplicate_address_bad_key_and_address():
    found = problems_of(graph_text("""\
        camera: {address: 10.77.0.1, key: not-a-key}
        compute: {address: 10.77.0.1}
        spare: {address: "bad address!", port: 5}
        board: {address: 10.77.0.9, agent: 70000}
        """, relay_host="elsewhere"))
    assert "robot.yaml:3: hosts.camera.key: 'key': a public key is 40 Z85 characters, got 9: " \
           "b'not-a-key'" in found
    assert "robot.yaml:4: hosts.compute: address 10.77.0.1 is also host 'camera''s " \
           "(one entry per machine)" in found
    assert "robot.yaml:5: hosts.spare: unknown key 'port' (known: address, key, agent, " \
           "ports)" in found
    assert any(p.startswith("robot.yaml:5: hosts.spare.address: 'address' must be an IP address")
               for p in found)
    assert "robot.yaml:6: hosts.board.agent: 'agent' must be the agent's TCP port, 1-65535, " \
           "got 70000" in found
    assert "robot.yaml:15: node 'relay': host: unknown host 'elsewhere' " \
           "(hosts: camera, compute, board)" in found


def test_node_ports_out_of_range_too_few_or_on_the_agent_port():
    found = problems_of(graph_text("""\
        camera: {address: 10.77.0.1, ports: 80-90}
        compute: {address: 10.77.0.2, ports: "6000-6000"}
        board: {address: 10.77.0.3, ports: many}
        """))
    assert "robot.yaml:3: hosts.camera.ports: 'ports' 80-90 is out of range: node ports must " \
           "be within 1024-65535, first <= last" in found
    assert "robot.yaml:4: hosts.compute.ports: ports 6000-6000 hold 0 node(s), but 1 run on " \
           "host 'compute' (two ports each: publisher, service)" in found
    assert "robot.yaml:5: hosts.board.ports: 'ports' must be FIRST-LAST or FIRST " \
           "(node TCP ports), got 'many'" in found
    clash = problems_of(graph_text("""\
        camera: {address: 10.77.0.1, ports: 5699, agent: 5700}
        compute: {address: 10.77.0.2, ports: 6000-6001}
        """))
    assert clash == ["robot.yaml:3: hosts.camera.ports: agent port 5700 clashes with node ports "
                     "5699-5700 of host 'camera'"]


def test_node_ports_place_publishers_and_services(tmp_path):
    graph, problems = parse(graph_text("""\
        camera: {address: 10.77.0.1, ports: 6100}
        compute: 10.77.0.2
        """), tmp_path / "robot.yaml")
    assert problems == [] and check(graph)[1] == []
    wiring = plan(graph, tmp_path, "ipc:///nowhere")
    place_on_hosts(wiring, graph)
    assert (wiring.publishers["camera"], wiring.services["camera"]) == \
        ("tcp://10.77.0.1:6100", "tcp://10.77.0.1:6101")
    assert wiring.publishers["relay"] == "tcp://10.77.0.2:5800"   # the default range


def test_topics_that_cannot_cross_machines():
    loopback = problems_of(graph_text("""\
        camera: 127.0.0.1
        compute: 10.77.0.2
        """))
    assert loopback == [
        "robot.yaml:14: node 'relay': inputs.in: topic 'frames' comes from node 'camera' on host "
        "'camera', which listens on loopback 127.0.0.1, out of reach of host 'compute'"]
    launcher = problems_of(graph_text("compute: 10.77.0.2\n", camera_host="null"))
    assert len(launcher) == 1 and "comes from node 'camera' on the launcher's machine, which has " \
        "no address host 'compute' can reach" in launcher[0]
    assert problems_of(graph_text("camera: 10.77.0.1\ncompute: 10.77.0.1\n".replace(
        "compute: 10.77.0.1", "compute: robot.local"))) == []


def test_launch_needs_a_reachable_control_endpoint_for_other_machines(tmp_path):
    assert is_this_machine("127.0.0.1") and not is_this_machine("192.0.2.77")
    path = tmp_path / "g.yaml"
    path.write_text(graph_text("camera: 10.77.0.1\ncompute: 192.0.2.77\n"))
    env = {**os.environ, "EDGE_RUNTIME_DIR": str(tmp_path / "run")}
    for control in ([], ["--control", "tcp://127.0.0.1:5633"]):   # ipc, loopback: out of reach
        result = subprocess.run([EDGE, "launch", str(path), *control], capture_output=True,
                                text=True, timeout=30, env=env)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith(
            "error: FAILED_PRECONDITION: nodes run on camera, compute: bind the control endpoint "
            "on an address they can reach, e.g. --control tcp://10.0.0.1:5600")


def test_launch_refuses_a_control_endpoint_on_a_node_port(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text(graph_text("camera: {address: 127.0.0.1, ports: 6200}\n", relay_host="camera"))
    env = {**os.environ, "EDGE_RUNTIME_DIR": str(tmp_path / "run")}
    result = subprocess.run([EDGE, "launch", str(path), "--control", "tcp://127.0.0.1:6201"],
                            capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: FAILED_PRECONDITION: control endpoint tcp://127.0.0.1:6201 takes a node port of "
        "host 'camera' (its nodes use 6200-6203): choose another port or set the host's 'ports'")


def test_wiring_keeps_ipc_between_nodes_of_one_host(tmp_path, monkeypatch):
    text = graph_text("camera: 10.77.0.1\ncompute: 10.77.0.2\n") + """\
  - name: sink
    type: recorder
    host: compute
    parameters: {path: /tmp/x.jsonl}
    inputs: {in: relayed}
"""
    graph, problems = parse(text, Path("robot.yaml"))
    assert problems == [] and check(graph)[1] == []
    wiring = plan(graph, tmp_path, "tcp://10.77.0.3:5600")
    place_on_hosts(wiring, graph)
    configs = {n.name: wiring.config(n) for n in graph.nodes}
    camera, relay, sink = configs["camera"], configs["relay"], configs["sink"]
    assert camera.endpoint == "tcp://10.77.0.1:5800" and camera.also_bind == []
    assert relay.endpoint == "tcp://10.77.0.2:5800" and relay.service == "tcp://10.77.0.2:5801"
    assert relay.inputs["in"].endpoint == "tcp://10.77.0.1:5800"     # across machines: tcp
    [local] = relay.also_bind
    assert local.startswith("ipc://{runtime}/") and sink.inputs["in"].endpoint == local
    assert sink.service == "tcp://10.77.0.2:5803"
    # on the node's machine the placeholder becomes its own runtime dir
    monkeypatch.setenv("EDGE_RUNTIME_DIR", str(tmp_path / "rt"))
    monkeypatch.setenv("EDGE_NODE_CONFIG", sink.to_json())
    here = NodeConfig.take_from_env()
    assert here.inputs["in"].endpoint == local.replace("{runtime}", str(tmp_path / "rt"))


def test_script_types_on_hosts_must_be_what_an_agent_accepts(tmp_path):
    (tmp_path / "my.node.py").write_text("print('hi')\n")
    (tmp_path / "big.py").write_bytes(b"#" * (512 * 1024 + 1))
    text = graph_text("camera: 10.77.0.1\ncompute: 10.77.0.2\n").replace(
        "type: ticker", "type: ./my.node.py").replace("type: relay", "type: big.py")
    graph, problems = parse(text, tmp_path / "robot.yaml")
    found = [str(p) for p in problems + check(graph)[1]]
    assert f"{tmp_path / 'robot.yaml'}:8: node 'camera': type: script name must be a plain " \
           "NAME.py (letters, digits, '_', '-'; at most 64 before .py), got 'my.node.py' " \
           "(host 'camera' runs it through its agent)" in found
    assert f"{tmp_path / 'robot.yaml'}:12: node 'relay': type: script big.py is 524289 bytes, " \
           "more than the 524288 an agent accepts (host 'compute' runs it through its agent)" \
           in found
