"""`edge topic pub|echo|hz|bw|latency` against a running graph, as a user types them."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EDGE = str(Path(sys.executable).parent / "edge")

GRAPH = """\
name: tools
external: [probe/in]
nodes:
  - name: camera
    type: camera
    parameters: {fps: 20}
    outputs: {image: camera/image}
  - name: watcher
    type: relay
    inputs: {in: camera/image}
    outputs: {out: watched}
  - name: forward
    type: relay
    inputs: {in: probe/in}
    outputs: {out: probe/out}
"""


def _edge(env, *args, timeout_s=30.0):
    result = subprocess.run([EDGE, *args], env=env, capture_output=True, text=True, timeout=timeout_s)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def tools(launch, edge_env):
    graph = launch("tools", GRAPH)
    graph.wait_ready()
    return graph


@pytest.mark.timeout(90)
def test_pub_reaches_the_graph_and_echo_shows_it_bad_input_is_one_line(tools, edge_env):
    echo = subprocess.Popen([EDGE, "topic", "echo", "probe/out", "-n", "1", "--duration", "30",
                             "--control", tools.control], env=edge_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out = _edge(edge_env, "topic", "pub", "probe/in", "[1.5, 2, 3]", "--dtype", "float32",
                    "--rate", "10", "--count", "40", "--control", tools.control)
        assert out.strip() == "published 40 message(s) on probe/in"
        stdout, stderr = echo.communicate(timeout=30)
    finally:
        echo.kill()
        echo.wait(timeout=10)
    assert re.search(r"from forward .*: \[1\.5, 2\.0, 3\.0\]", stdout), stderr
    result = subprocess.run([EDGE, "topic", "pub", "camera/image", "1", "--control", tools.control],
                            env=edge_env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "declare it under `external:`" in result.stderr
    result = subprocess.run([EDGE, "topic", "pub", "probe/in", "[1, 2", "--control", tools.control],
                            env=edge_env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and result.stderr.startswith("error: INVALID_ARGUMENT: VALUE is not YAML")


@pytest.mark.timeout(90)
def test_echo_bw_hz_latency_on_a_camera(tools, edge_env):
    control = ["--control", tools.control]
    echo = _edge(edge_env, "topic", "echo", "camera/image", "-n", "1", *control)
    assert re.search(r"'data': '<ndarray uint8 \[480, 640, 3\] min \d+ max \d+ mean [\d.]+>'", echo)
    bw = _edge(edge_env, "topic", "bw", "camera/image", "--duration", "1.5", *control)
    found = re.search(r"camera/image: ([\d.]+) MB/s, ([\d.]+) msg/s", bw)
    assert found and float(found.group(2)) > 2
    assert re.search(r"message size: mean 921\.\d KB", bw)   # 640 x 480 x 3 plus a small header
    hz = _edge(edge_env, "topic", "hz", "camera/image", "--duration", "1.5", *control)
    assert re.search(r"seq gaps seen here: \d+ \(publisher\(s\) camera\)", hz)
    assert re.search(r"publisher camera: \d+ published", hz)
    assert re.search(r"subscriber watcher\.in: \d+ received, \d+ dropped", hz)
    latency = _edge(edge_env, "topic", "latency", "camera/image", "--duration", "1", *control)
    assert re.search(r"capture -> here: p50 [\d.]+ ms  p99 [\d.]+ ms", latency)
    recorded = str(Path(edge_env["EDGE_RUNTIME_DIR"]) / "all.mcap")
    out = _edge(edge_env, "bag", "record", "--all", "-o", recorded, "--duration", "1.5", *control)
    assert re.search(r"camera/image: [1-9]\d* messages", out) and "probe/in: 0 messages" in out
    info = _edge(edge_env, "bag", "info", recorded)
    assert re.search(r"camera/image\s+Image\s+\d+", info) and re.search(r"watched\s+Image\s+\d+", info)
