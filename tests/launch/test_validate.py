"""`edge check`: every problem of a launch file, each naming the file, the node and the key."""
from __future__ import annotations

import subprocess

import pytest

from launch_process import EDGE
from edge.launch.validate import check_file

pytestmark = pytest.mark.timeout(30)

SOURCE = """\
  - name: counter
    type: graph_nodes:Counter
    outputs: {count: numbers}
"""

# (file name, text, expected messages: each a substring of one problem line)
INVALID = [
    ("yaml_syntax.yaml", "nodes:\n  - name: a\n    type: [ticker\n",
     ["yaml_syntax.yaml:4: YAML syntax error"]),
    ("json_syntax.json", '{"nodes": [\n  {"name": "a",}\n]}\n',
     ["json_syntax.json:2: JSON syntax error"]),
    ("duplicate_names.yaml", "nodes:\n" + SOURCE + "  - name: counter\n    type: graph_nodes:Stubborn\n",
     ["duplicate_names.yaml:5: node 'counter': name: duplicate node name (first on line 2)"]),
    ("two_producers.yaml", "nodes:\n" + SOURCE + "  - name: other\n    type: graph_nodes:Counter\n"
     "    outputs: {count: numbers}\n",
     ["two_producers.yaml:7: node 'other': outputs.count: topic 'numbers' is already produced by "
      "node 'counter'"]),
    ("unproduced_input.yaml", "nodes:\n  - name: sink\n    type: graph_nodes:Sink\n"
     "    parameters: {path: x}\n    inputs: {in: nowhere}\n",
     ["unproduced_input.yaml:5: node 'sink': inputs.in: no node produces topic 'nowhere'"]),
    ("unknown_input.yaml", "nodes:\n" + SOURCE + "  - name: scale\n    type: graph_nodes:Scale\n"
     "    inputs: {inp: numbers}\n",
     ["node 'scale': inputs.inp: type 'graph_nodes:Scale' has no input 'inp' (did you mean 'in'?)"]),
    ("unknown_output.yaml", "nodes:\n  - name: counter\n    type: graph_nodes:Counter\n"
     "    outputs: {counts: numbers}\n",
     ["node 'counter': outputs.counts: type 'graph_nodes:Counter' has no output 'counts'"]),
    ("unknown_type.yaml", "nodes:\n  - name: cam\n    type: camra_typo\n",
     ["unknown_type.yaml:3: node 'cam': type: unknown node type 'camra_typo'"]),
    ("unknown_class.yaml", "nodes:\n  - name: cam\n    type: graph_nodes:NoSuchClass\n",
     ["node 'cam': type: cannot load node type 'graph_nodes:NoSuchClass'"]),
    ("not_a_node_type.yaml", "nodes:\n  - name: cam\n    type: graph_nodes:NotANodeType\n",
     ["node 'cam': type: node type 'graph_nodes:NotANodeType' is not a NodeType subclass"]),
    ("missing_script.yaml", "nodes:\n  - name: s\n    type: ./nowhere/probe.py\n",
     ["node 's': type: node script not found"]),
    ("unknown_parameter.yaml", "nodes:\n  - name: counter\n    type: graph_nodes:Counter\n"
     "    parameters: {rate_hx: 5}\n    outputs: {count: numbers}\n",
     ["unknown_parameter.yaml:4: node 'counter': parameters.rate_hx: unknown parameter "
      "(did you mean 'rate_hz'?)"]),
    ("ill_typed_parameter.yaml", "nodes:\n  - name: counter\n    type: graph_nodes:Counter\n"
     "    parameters:\n      rate_hz: fast\n    outputs: {count: numbers}\n",
     ["ill_typed_parameter.yaml:5: node 'counter': parameters.rate_hz: expected float, got str 'fast'"]),
    ("unusable_parameters.yaml", "nodes:\n  - name: t\n    type: ticker\n    parameters:\n"
     "      rate_hz: .inf\n    outputs: {tick: ticks}\n  - name: u\n    type: ticker\n"
     "    parameters: {rate_hz: 0}\n    outputs: {tick: other}\n",
     ["unusable_parameters.yaml:5: node 't': parameters.rate_hz: expected a finite number, got inf",
      "unusable_parameters.yaml:9: node 'u': parameters.rate_hz: expected at least 0.001, got 0.0"]),
    ("missing_parameter.yaml", "nodes:\n" + SOURCE + "  - name: sink\n    type: graph_nodes:Sink\n"
     "    inputs: {in: numbers}\n",
     ["missing_parameter.yaml:5: node 'sink': parameters.path: missing required parameter"]),
    ("dtype_mismatch.yaml", "nodes:\n" + SOURCE + "  - name: sink\n    type: graph_nodes:FloatSink\n"
     "    inputs: {in: numbers}\n",
     ["node 'sink': inputs.in: expects dtype float32 but gets int64 from node 'counter' output "
      "'count' on topic 'numbers'"]),
    ("rank_mismatch.yaml", "nodes:\n" + SOURCE + "  - name: sink\n    type: graph_nodes:MatrixSink\n"
     "    inputs: {in: numbers}\n",
     ["node 'sink': inputs.in: expects shape [n, 4] but gets [n]: rank 2 vs 1"]),
    ("named_dim_mismatch.yaml", "nodes:\n" + SOURCE + "  - name: sink\n    type: graph_nodes:BatchSink\n"
     "    inputs: {in: numbers}\n",
     ["node 'sink': inputs.in: expects shape [batch] but gets [n]: dim 0 is named 'batch' vs 'n'"]),
    ("unknown_keys.yaml", "name: g\nnodez: []\nnodes:\n  - name: a\n    type: graph_nodes:Stubborn\n"
     "    restrat: always\n",
     ["unknown_keys.yaml:2: unknown key 'nodez'",
      "unknown_keys.yaml:6: node 'a': unknown key 'restrat'"]),
    ("bad_restart.yaml", "nodes:\n  - name: a\n    type: graph_nodes:Stubborn\n    restart: sometimes\n"
     "    max_restarts: -1\n",
     ["node 'a': restart: must be one of never, on-failure, always, got 'sometimes'",
      "node 'a': max_restarts: must be an integer >= 0, got -1"]),
    ("bad_queue_size.yaml", "nodes:\n" + SOURCE + "  - name: sink\n    type: graph_nodes:Sink\n"
     "    parameters: {path: x}\n    inputs:\n      in: {topic: numbers, queue_size: 0}\n",
     ["bad_queue_size.yaml:9: node 'sink': inputs.in: queue_size must be an integer >= 1, got 0"]),
    ("external_produced.yaml", "external: [numbers]\nnodes:\n" + SOURCE,
     ["node 'counter': outputs.count: topic 'numbers' is declared external"]),
    ("bad_name.yaml", "nodes:\n  - name: 'my node'\n    type: graph_nodes:Stubborn\n",
     ["node 'my node': name: node name must be letters, digits"]),
    ("duplicate_key.yaml", "nodes:\n  - name: a\n    type: graph_nodes:Stubborn\n    type: relay\n",
     ["duplicate_key.yaml:4: duplicate key 'type'"]),
    ("no_nodes.yaml", "name: g\n", ["no_nodes.yaml:1: 'nodes' must be a non-empty list of nodes"]),
]


@pytest.mark.parametrize("name,text,expected", INVALID, ids=[case[0] for case in INVALID])
def test_invalid_launch_file(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    _, _, problems = check_file(path)
    lines = [str(p) for p in problems]
    for message in expected:
        assert any(message in line for line in lines), f"{message!r} not in {lines}"
    assert all(line.startswith(str(path)) for line in lines)


def test_a_script_s_parameters_must_be_plain_values(tmp_path):
    """A script declares no schema, but its parameters still travel as JSON."""
    (tmp_path / "probe.py").write_text("from edge import Node\n")
    path = tmp_path / "script.yaml"
    path.write_text("nodes:\n  - name: s\n    type: probe.py\n    parameters:\n"
                    "      when: 2024-01-01\n      ok: [1, two, {three: 3.5}]\n")
    _, _, problems = check_file(path)
    assert [str(p) for p in problems] == \
        [f"{path}:5: node 's': parameters.when: date is not a parameter value (use a number, "
         "text, bool, list or map)"]


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text("nodes:\n"
                    "  - name: counter\n    type: graph_nodes:Counter\n    parameters: {rate_hz: x}\n"
                    "    outputs: {count: numbers}\n"
                    "  - name: sink\n    type: graph_nodes:FloatSink\n    inputs: {in: numbers, extra: gone}\n"
                    "  - name: ghost\n    type: no_such_type\n")
    _, _, problems = check_file(path)
    keys = {(p.node, p.key) for p in problems}
    assert {("counter", "parameters.rate_hz"), ("sink", "inputs.in"), ("sink", "inputs.extra"),
            ("ghost", "type")} <= keys


def test_valid_file_has_no_problems(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("nodes:\n" + SOURCE + "  - name: sink\n    type: graph_nodes:Sink\n"
                    "    parameters: {path: x}\n    inputs: {in: numbers}\n"
                    "  - name: any\n    type: graph_nodes:ImageSink\n    inputs: {in: numbers2}\n"
                    "  - name: script\n    type: probe.py\n    outputs: {x: numbers2}\n")
    (tmp_path / "probe.py").write_text("")
    graph, types, problems = check_file(path)
    assert problems == [] and set(types) == {"counter", "sink", "any", "script"}


def test_edge_check_cli_lists_problems_and_exits_1(tmp_path, edge_env):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n  - name: sink\n    type: graph_nodes:Sink\n    inputs: {in: nowhere}\n")
    result = subprocess.run([EDGE, "check", str(bad)], env=edge_env, capture_output=True, text=True,
                            timeout=20)
    assert result.returncode == 1
    assert f"{bad}:4: node 'sink': inputs.in: no node produces topic 'nowhere'" in result.stderr
    assert f"{bad}:2: node 'sink': parameters.path: missing required parameter" in result.stderr
    assert "Traceback" not in result.stderr

    good = tmp_path / "good.yaml"
    good.write_text("nodes:\n" + SOURCE)
    result = subprocess.run([EDGE, "check", str(good)], env=edge_env, capture_output=True, text=True,
                            timeout=20)
    assert result.returncode == 0 and "ok (graph 'good': 1 node(s), 1 topic(s))" in result.stdout


def test_edge_launch_of_an_invalid_file_starts_nothing(tmp_path, edge_env, rt_dir):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n" + SOURCE + "  - name: sink\n    type: graph_nodes:FloatSink\n"
                   "    inputs: {in: numbers}\n")
    result = subprocess.run([EDGE, "launch", str(bad)], env=edge_env, capture_output=True, text=True,
                            timeout=20)
    assert result.returncode == 1
    assert "expects dtype float32 but gets int64" in result.stderr
    assert "nothing was started" in result.stderr and "launching" not in result.stdout
    assert not list(rt_dir.iterdir())  # no control socket, no launch dir
