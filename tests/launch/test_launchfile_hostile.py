"""A launch file from someone careless or malicious is one clear problem, found quickly:
never a hang, a traceback or an error message the size of the file."""
from __future__ import annotations

import copy
import json
import os
import subprocess

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from edge.launch.loader import MAX_FILE_BYTES, read
from edge.launch.validate import check_file
from launch_process import EDGE

pytestmark = pytest.mark.timeout(20)

NODE = "nodes:\n  - name: t\n    type: ticker\n    parameters: {rate_hz: %s}\n"


def only_problem(path) -> str:
    graph, problems = read(path)
    assert graph is None and len(problems) == 1, problems
    return problems[0].message


def test_nested_aliases_that_expand_to_billions_of_values_are_refused(tmp_path):
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 9)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\nname: x\n" + NODE % "*a8")  # 9**9 strings
    assert "more than 100000 values once its aliases are expanded" in only_problem(path)


def test_an_alias_inside_itself_is_refused(tmp_path):
    path = tmp_path / "cycle.yaml"
    path.write_text("a: &a [*a]\nname: x\n" + NODE % "*a")
    assert "aliases are expanded" in only_problem(path)


def test_aliases_within_the_bound_still_work(tmp_path):
    path = tmp_path / "shared.yaml"
    path.write_text("name: x\n" + NODE % "&rate 5" + "  - name: u\n    type: ticker\n"
                    "    parameters: {rate_hz: *rate}\n")
    graph, problems = read(path)
    assert not problems and [n.parameters["rate_hz"] for n in graph.nodes] == [5, 5]


@pytest.mark.parametrize("name, text", [
    ("deep.yaml", "name: x\nnodes: " + "[" * 20000 + "]" * 20000 + "\n"),
    ("deep.json", '{"name": "x", "nodes": ' + "[" * 20000 + "]" * 20000 + "}"),
])
def test_nesting_deeper_than_the_parser_can_go_is_a_problem(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert only_problem(path) == "nested too deeply to read"


def test_a_file_that_is_not_utf8_is_a_problem(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\nnodes: []\n".encode("latin-1"))
    assert only_problem(path) == "launch file is not UTF-8 text (byte 9 is 0xe9)"


def test_an_endless_file_is_read_only_up_to_the_bound(tmp_path):
    assert only_problem("/dev/zero") == f"launch file is larger than {MAX_FILE_BYTES >> 20} MiB"


def test_a_huge_wrong_value_is_named_in_a_short_message(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text("name: x\n" + NODE % ('"' + "9" * 1_000_000 + '"'))
    _, _, problems = check_file(str(path))
    assert len(problems) == 1 and problems[0].key == "parameters.rate_hz"
    assert len(problems[0].message) < 300


def test_a_problem_in_the_outputs_section_is_reported_once(tmp_path):
    """Its four readings (topics, transports, shm sizes, trails) share one pass over it."""
    path = tmp_path / "names.yaml"
    path.write_text("name: g\nnodes:\n  - name: t\n    type: ticker\n"
                    "    outputs: {1: numbers, tick: numbers}\n")
    _, problems = read(path)
    assert [(p.key, p.message) for p in problems] == [("outputs", "names must be strings, got 1")]


@pytest.mark.parametrize("key", ["restart", "max_restarts", "host", "trail", "outputs",
                                 "inputs", "env", "unknown"])
def test_a_huge_value_anywhere_in_a_node_is_named_in_a_short_message(tmp_path, key):
    huge = "x " * 500_000
    value = {"outputs": {"tick": {"topic": huge, "transport": huge}}, "inputs": {"in": huge},
             "env": {"A": [huge]}, "unknown": 1}.get(key, huge)
    node = {"name": "t", "type": "ticker", "parameters": {"rate_hz": 5}, key: value}
    if key == "unknown":
        node = {**node, huge: 1}
    path = tmp_path / "long.json"
    path.write_text(json.dumps({"name": "x", "nodes": [node]}))
    _, _, problems = check_file(path)
    assert problems and all(len(problem.message) < 300 for problem in problems), problems


def test_the_cli_prints_the_problem_not_a_traceback(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"nodes": ' + "[" * 20000 + "]" * 20000 + "}")
    run = subprocess.run([EDGE, "check", str(path)], capture_output=True, text=True,
                         timeout=15, env={**os.environ, "NO_COLOR": "1"})
    assert run.returncode != 0
    assert "nested too deeply to read" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
                    st.text(max_size=6), st.sampled_from(["ticker", "echo", "numbers", "in",
                                                          "zmq", "shm", "../x", "kenning"]))
keys = st.sampled_from(["name", "type", "nodes", "inputs", "outputs", "parameters", "external",
                        "hosts", "restart", "max_restarts", "host", "env", "topic", "transport",
                        "queue_size", "trail", "shm_min_bytes", "address", "graph", "id", "in"])
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)), max_leaves=40)
VALID = {"name": "g", "nodes": [
    {"name": "t", "type": "ticker", "parameters": {"rate_hz": 5}, "outputs": {"tick": "numbers"}},
    {"name": "e", "type": "echo", "inputs": {"in": "numbers"}}]}


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(node=st.sampled_from([0, 1]), key=keys, value=documents, whole=documents,
       replace_node=st.booleans(), as_json=st.booleans())
def test_any_document_is_a_graph_or_problems_never_an_exception(tmp_path_factory, node, key,
                                                                value, whole, replace_node,
                                                                as_json):
    """A valid graph with one key of a node replaced, or any document at all."""
    document = copy.deepcopy(VALID)
    if replace_node:
        document["nodes"][node][key] = value
    else:
        document = whole
    try:
        text = json.dumps(document) if as_json else yaml.safe_dump(document)
    except (ValueError, OverflowError):  # NaN in JSON, ints out of YAML's range
        return
    path = tmp_path_factory.mktemp("doc") / ("g.json" if as_json else "g.yaml")
    path.write_text(text)
    graph, _, problems = check_file(path)
    assert graph is not None or problems


KENNING = "kenning.dataproviders.camera_dataprovider.CameraDataProvider"
FLOW = [  # Kenning's flow form: runner classes that map onto our node types
    {"type": KENNING, "parameters": {"video_file_path": "/tmp", "input_width": 64},
     "outputs": {"frame": "frames"}},
    {"type": "kenning.runners.modelruntime_runner.ModelRuntimeRunner", "parameters": {
        "model_wrapper": {"type": "kenning.modelwrappers.classification.custom.Colors",
                          "parameters": {"model_path": "/tmp/m.onnx"}},
        "runtime": {"type": "kenning.runtimes.onnx.ONNXRuntime",
                    "parameters": {"save_model_path": "/tmp/m.onnx"}}},
     "inputs": {"input": "frames"}, "outputs": {"classification": "classes"}},
    {"type": "kenning.outputcollectors.real_time_visualizers.RealTimeDetectionVisualizer",
     "parameters": {"viewer_width": 640}, "inputs": {"frame": "frames"}}]
flow_keys = st.sampled_from(["type", "parameters", "inputs", "outputs", "model_wrapper", "runtime",
                             "model_path", "save_model_path", "input_color_format", "frame",
                             "video_file_path", "input", "save_to_file", "save_path"])


def test_a_kenning_section_that_is_not_a_map_is_a_problem(tmp_path):
    flow = copy.deepcopy(FLOW)
    flow[1]["parameters"].update(model_wrapper=1, runtime={"parameters": [2]})
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(flow))
    _, _, problems = check_file(path)
    messages = sorted(problem.message for problem in problems)
    assert any("must be a map of type and parameters, got 1" in m for m in messages), messages
    assert any("must be a map, got [2]" in m for m in messages), messages


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(node=st.sampled_from([0, 1, 2]), path=st.lists(flow_keys, min_size=1, max_size=3),
       value=documents)
def test_any_kenning_flow_is_a_graph_or_problems_never_an_exception(tmp_path_factory, node,
                                                                    path, value):
    """A valid flow with one value replaced at any depth of one runner."""
    flow = copy.deepcopy(FLOW)
    target = flow[node]
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            break
        target = target[key]
    target[path[-1]] = value
    try:
        text = json.dumps(flow)
    except (ValueError, OverflowError):  # NaN, or ints JSON cannot carry
        return
    file = tmp_path_factory.mktemp("flow") / "flow.json"
    file.write_text(text)
    graph, _, problems = check_file(file)
    assert graph is not None or problems
