"""Loading launch files: YAML, JSON, Kenning's flow list, line numbers, script paths."""
from __future__ import annotations

import json

import pytest

from edge.launch.loader import LaunchFileError, load, read
from edge.launch.wiring import plan

pytestmark = pytest.mark.timeout(20)

YAML = """\
name: demo
external: [probe/hint]
nodes:
  - name: tick
    type: ticker
    parameters: {rate_hz: 5}
    outputs: {tick: numbers}
  - name: relay
    type: relay
    inputs:
      in: {topic: numbers, queue_size: 4}
    outputs: {out: relayed}
    restart: always
    max_restarts: 2
    env: {OMP_NUM_THREADS: 1}
"""


def test_yaml_mapping_form(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(YAML)
    graph = load(path)
    assert graph.name == "demo" and graph.external == ["probe/hint"]
    tick, relay = graph.nodes
    assert (tick.name, tick.type, tick.parameters, tick.outputs) == \
        ("tick", "ticker", {"rate_hz": 5}, {"tick": "numbers"})
    assert relay.inputs["in"].topic == "numbers" and relay.inputs["in"].queue_size == 4
    assert (relay.restart, relay.max_restarts, relay.env) == ("always", 2, {"OMP_NUM_THREADS": "1"})
    assert tick.line == 4 and relay.line_of("inputs.in") == 11 and relay.line_of("restart") == 13
    assert graph.producers()["numbers"][0][0] is tick
    assert graph.consumers()["numbers"][0][0] is relay


def test_json_mapping_form_and_defaults(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"nodes": [{"name": "a", "type": "ticker", "outputs": {"tick": "t"}}]}))
    graph = load(path)
    assert graph.name == "g"  # from the file name
    assert (graph.nodes[0].restart, graph.nodes[0].max_restarts) == ("on-failure", 5)


def test_kenningflow_list_form_derives_unique_names(tmp_path):
    path = tmp_path / "flow.json"
    path.write_text(json.dumps([
        {"type": "ticker", "parameters": {}, "outputs": {"tick": "cam_frame"}},
        {"type": "relay", "inputs": {"in": "cam_frame"}, "outputs": {"out": "a"}},
        {"type": "relay", "inputs": {"in": "a"}, "outputs": {"out": "b"}},
        {"type": "nodes.basic.Recorder", "parameters": {"path": "x"}, "inputs": {"in": "b"}},
    ]))
    graph = load(path)
    assert [n.name for n in graph.nodes] == ["ticker", "relay", "relay-2", "recorder"]


def test_script_type_resolves_next_to_the_launch_file(tmp_path):
    (tmp_path / "scripts").mkdir()
    path = tmp_path / "g.yaml"
    path.write_text("nodes:\n  - {name: s, type: scripts/probe.py}\n")
    node = load(path).nodes[0]
    assert node.is_script and node.type == str(tmp_path / "scripts" / "probe.py")


def test_unreadable_and_empty_files(tmp_path):
    graph, problems = read(tmp_path / "missing.yaml")
    assert graph is None and "cannot read launch file" in str(problems[0])
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(LaunchFileError, match="got empty"):
        load(empty)


def test_wiring_assigns_short_ipc_endpoints(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(YAML)
    graph = load(path)
    wiring = plan(graph, __import__("pathlib").Path("/tmp/x"), "ipc:///tmp/x/control.sock")
    config = wiring.config(graph.nodes[1], {"every": 2})
    # a socket per output, so each output's HWM fits its own messages
    assert config.inputs["in"].endpoint == wiring.routes["numbers"].endpoint == "ipc:///tmp/x/tick.tick.pub.sock"
    assert config.inputs["in"].queue_size == 4 and config.parameters == {"every": 2}
    assert config.outputs["out"].endpoint == "ipc:///tmp/x/relay.out.pub.sock"
    assert config.endpoint == "ipc:///tmp/x/relay.pub.sock"  # what ad-hoc outputs (by topic) use
    assert config.service == "ipc:///tmp/x/relay.svc.sock" and config.control.endswith("control.sock")
    assert wiring.routes["probe/hint"].external and wiring.routes["probe/hint"].publisher is None
    assert wiring.routes["numbers"].subscribers == [("relay", "in")]


def test_input_limits_reach_the_node_config_and_bad_ones_are_named(tmp_path):
    path = tmp_path / "limits.yaml"
    path.write_text(YAML.replace("{topic: numbers, queue_size: 4}",
                                 "{topic: numbers, queue_size: 4, queue_bytes: 1048576, "
                                 "max_message_bytes: 65536, max_age_s: 0.5}"))
    graph = load(path)
    config = plan(graph, __import__("pathlib").Path("/tmp/x"), "ipc:///tmp/x/c.sock").config(
        graph.nodes[1])
    port = config.inputs["in"]
    assert (port.queue_bytes, port.max_message_bytes, port.max_age_s) == (1 << 20, 65536, 0.5)
    assert type(config).from_json(config.to_json()).inputs["in"].max_age_s == 0.5
    path.write_text(YAML.replace("{topic: numbers, queue_size: 4}",
                                 "{topic: numbers, queue_bytes: 0, max_message_bytes: true, "
                                 "max_age_s: .inf}"))
    with pytest.raises(LaunchFileError) as caught:
        load(path)
    text = str(caught.value)
    assert "queue_bytes must be an integer >= 1, got 0" in text
    assert "max_message_bytes must be an integer >= 1, got True" in text
    assert "max_age_s must be a finite number >= 0, got inf" in text


def test_an_output_with_transport_shm_wires_its_subscribers_for_shm(tmp_path):
    path = tmp_path / "shm.yaml"
    path.write_text(YAML.replace("outputs: {tick: numbers}",
                                 "outputs: {tick: {topic: numbers, transport: shm}}"))
    graph = load(path)
    wiring = plan(graph, __import__("pathlib").Path("/tmp/x"), "ipc:///tmp/x/control.sock")
    tick, relay = (wiring.config(node) for node in graph.nodes)
    assert tick.outputs["tick"].topic == "numbers" and tick.outputs["tick"].transport == "shm"
    assert relay.inputs["in"].transport == "shm" and relay.outputs["out"].transport == "auto"


def test_outputs_default_to_transport_auto_and_zmq_opts_out(tmp_path):
    path = tmp_path / "auto.yaml"
    graph = load(path) if path.write_text(YAML) else None
    wiring = plan(graph, __import__("pathlib").Path("/tmp/x"), "ipc:///tmp/x/control.sock")
    tick, relay = (wiring.config(node) for node in graph.nodes)
    assert tick.outputs["tick"].transport == "auto" and relay.inputs["in"].transport == "auto"
    path.write_text(YAML.replace("outputs: {tick: numbers}",
                                 "outputs: {tick: {topic: numbers, transport: zmq}}"))
    graph = load(path)
    wiring = plan(graph, __import__("pathlib").Path("/tmp/x"), "ipc:///tmp/x/control.sock")
    tick, relay = (wiring.config(node) for node in graph.nodes)
    assert tick.outputs["tick"].transport == "zmq" and relay.inputs["in"].transport == "zmq"


def test_shm_min_bytes_reaches_the_node_and_a_bad_one_is_named(tmp_path):
    path = tmp_path / "threshold.yaml"
    path.write_text(YAML.replace("outputs: {tick: numbers}",
                                 "outputs: {tick: {topic: numbers, shm_min_bytes: 65536}}"))
    graph = load(path)
    tick, relay = (plan(graph, __import__("pathlib").Path("/tmp/x"), "ipc:///tmp/x/c.sock").config(node)
                   for node in graph.nodes)
    assert type(tick).from_json(tick.to_json()).outputs["tick"].shm_min_bytes == 65536
    assert relay.outputs["out"].shm_min_bytes == 256 << 10  # the default
    path.write_text(YAML.replace("outputs: {tick: numbers}",
                                 "outputs: {tick: {topic: numbers, shm_min_bytes: -1}}"))
    with pytest.raises(LaunchFileError, match="shm_min_bytes must be an integer from 0 to"):
        load(path)


def test_an_unknown_output_transport_is_a_problem(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(YAML.replace("outputs: {tick: numbers}",
                                 "outputs: {tick: {topic: numbers, transport: udp, qos: 1}}"))
    with pytest.raises(LaunchFileError) as caught:
        load(path)
    text = str(caught.value)
    assert "transport must be one of auto, zmq, shm, got 'udp'" in text and "unknown key 'qos'" in text


def test_trail_switches_reach_the_node_config_and_bad_ones_are_named(tmp_path):
    path = tmp_path / "trail.yaml"
    path.write_text(YAML.replace("    outputs: {tick: numbers}", "    trail: true\n"
                                 "    outputs: {tick: numbers}").replace(
        "outputs: {out: relayed}", "outputs: {out: {topic: relayed, trail: false}}"))
    graph = load(path)
    wiring = plan(graph, __import__("pathlib").Path("/tmp/x"), "ipc:///tmp/x/control.sock")
    tick, relay = (wiring.config(node) for node in graph.nodes)
    assert tick.trail is True and tick.outputs["tick"].trail is None
    assert relay.trail is None and relay.outputs["out"].trail is False
    assert type(relay).from_json(relay.to_json()).outputs["out"].trail is False
    path.write_text(YAML.replace("    outputs: {tick: numbers}", "    trail: yes please\n"
                                 "    outputs: {tick: {topic: numbers, trail: 1}}"))
    with pytest.raises(LaunchFileError) as caught:
        load(path)
    text = str(caught.value)
    assert "trail: trail must be true or false, got 'yes please'" in text
    assert "outputs.tick: trail must be true or false, got 1" in text
