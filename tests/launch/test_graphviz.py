"""`edge graph`: dot and Mermaid text, and rendering that explains a missing Graphviz."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from edge.launch.graphviz import to_dot, to_mermaid
from edge.launch.loader import load
from launch_process import EDGE

pytestmark = pytest.mark.timeout(30)

GRAPH = """\
name: demo
external: [probe/hint]
nodes:
  - {name: tick, type: ticker, outputs: {tick: numbers}}
  - {name: relay, type: relay, inputs: {in: numbers}, outputs: {out: relayed}}
  - {name: echo, type: echo, inputs: {in: relayed}}
  - {name: rec, type: recorder, parameters: {path: x}, inputs: {in: probe/hint}}
  - {name: lonely, type: ticker, outputs: {tick: unread}}
"""


@pytest.fixture
def graph_file(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(GRAPH)
    return path


def test_dot(graph_file):
    dot = to_dot(load(graph_file))
    assert dot.startswith('digraph "demo" {')
    assert '"tick" -> "relay" [label="numbers"];' in dot
    assert '"relay" -> "echo" [label="relayed"];' in dot
    assert '"@ext:probe/hint" -> "rec" [label="probe/hint"];' in dot
    assert '"lonely" -> "@end:unread" [label="unread"];' in dot
    assert '"tick" [label="tick\\nticker"];' in dot


def test_mermaid(graph_file):
    text = to_mermaid(load(graph_file))
    assert text.startswith("flowchart LR\n")
    assert 'n0_tick -->|"numbers"| n1_relay' in text
    assert 'n1_relay -->|"relayed"| n2_echo' in text
    assert '>"ad-hoc"]' in text


def test_cli_prints_dot_or_mermaid_and_writes_text_files(graph_file, edge_env, tmp_path):
    run = lambda *args: subprocess.run([EDGE, "graph", *args], env=edge_env, capture_output=True,
                                       text=True, timeout=20)
    assert run(str(graph_file)).stdout.startswith('digraph "demo"')
    assert run("--mermaid", str(graph_file)).stdout.startswith("flowchart LR")
    out = tmp_path / "g.mmd"
    result = run(str(graph_file), "--output", str(out))
    assert result.returncode == 0 and out.read_text().startswith("flowchart LR")


def test_png_without_graphviz_says_how_to_get_it(graph_file, edge_env, tmp_path):
    env = dict(edge_env, PATH=str(tmp_path / "empty-bin"))  # no `dot` on this PATH
    result = subprocess.run([EDGE, "graph", str(graph_file), "--output", str(tmp_path / "g.png")],
                            env=env, capture_output=True, text=True, timeout=20)
    assert result.returncode == 1
    assert result.stderr.startswith("error: Graphviz's `dot` is not installed")
    assert "apt-get install graphviz" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_png_with_graphviz(graph_file, edge_env, tmp_path):
    out = tmp_path / "g.png"
    subprocess.run([EDGE, "graph", str(graph_file), "-o", str(out)], env=edge_env, check=True, timeout=30)
    assert out.read_bytes()[:4] == b"\x89PNG"
