"""An ad-hoc script joins a running graph: subscribes to its topics, publishes an external one."""
from __future__ import annotations

import subprocess
import sys

import pytest

from launch_process import read_sink, wait_until

pytestmark = pytest.mark.timeout(60)

PROBE = """\
import sys, time
import numpy as np
from edge import Node

node = Node("probe")
node.subscribe("numbers")                    # a graph topic, found through the control endpoint
received, sent = [], 0
deadline = time.monotonic() + 20
while time.monotonic() < deadline and (len(received) < 10 or sent < 60):
    event = node.next_event(timeout_s=0.02)
    if event is not None and event.kind == "input":
        received.append((event.source, int(event.value[0])))
    sent += 1
    node.publish("probe/numbers", np.array([1000 + sent], dtype=np.int64))  # external: into the graph
print("received", len(received), "from", sorted({s for s, _ in received}), "sent", sent)
node.close()
"""


def test_probe_subscribes_and_publishes_into_a_running_graph(launch, rt_dir, edge_env):
    sink = rt_dir / "sink.txt"
    graph = launch(f"""\
name: adhoc
external: [probe/numbers]
nodes:
  - name: counter
    type: graph_nodes:Counter
    outputs: {{count: numbers}}
  - name: scale
    type: graph_nodes:Scale
    parameters: {{gain: 2}}
    inputs: {{in: probe/numbers}}
    outputs: {{out: scaled}}
  - name: sink
    type: graph_nodes:Sink
    parameters: {{path: {sink}}}
    inputs: {{in: scaled}}
""")
    graph.wait_ready()
    probe = subprocess.run([sys.executable, "-c", PROBE], env=edge_env, capture_output=True,
                           text=True, timeout=40)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith("received ") and "from ['counter'] sent" in probe.stdout
    assert int(probe.stdout.split()[1]) >= 10
    rows = wait_until(lambda: read_sink(sink), 10, "the graph to consume the probe's topic")
    assert all(value % 2 == 0 and value > 2000 for _, _, _, value in rows)  # 2 x (1000 + n)


def test_probe_without_a_running_graph_gets_a_clear_error(edge_env):
    code = ("from edge import Node, NotFound\n"
            "try:\n    Node('probe').subscribe('numbers')\n"
            "except NotFound as exc:\n    print(exc)\n")
    result = subprocess.run([sys.executable, "-c", code], env=edge_env, capture_output=True,
                            text=True, timeout=20)
    assert result.stdout.strip() == ("NOT_FOUND: topic 'numbers': no endpoint given and no "
                                     "running graph publishes it")
