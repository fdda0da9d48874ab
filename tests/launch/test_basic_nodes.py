"""The built-in node types (nodes/basic.py) in a real launch."""
from __future__ import annotations

import signal

import pytest

from edge import bag
from edge.nodetype import load_node_type

pytestmark = pytest.mark.timeout(60)


def test_built_in_types_are_registered():
    for name in ("ticker", "relay", "echo", "recorder"):
        assert load_node_type(name).__module__ == "nodes.basic"


def test_ticker_relay_echo_recorder(launch, rt_dir):
    record = rt_dir / "record.mcap"
    graph = launch(f"""\
name: basic
nodes:
  - {{name: tick, type: ticker, parameters: {{rate_hz: 50}}, outputs: {{tick: numbers}}}}
  - {{name: thin, type: relay, parameters: {{every: 2}}, inputs: {{in: numbers}}, outputs: {{out: thinned}}}}
  - {{name: show, type: echo, parameters: {{every: 5}}, inputs: {{in: thinned}}}}
  - {{name: rec, type: recorder, parameters: {{path: {record}}}, inputs: {{in: thinned}}}}
""")
    graph.wait_ready()
    graph.wait_for(r"^show\s+\| thinned \[\d+\] from thin age [\d.]+ ms: \[\d+\]$")

    graph.wait_for(r"^show\s+\| thinned \[\d+\] from thin age [\d.]+ ms: \[\d+\]$", count=3)
    graph.proc.send_signal(signal.SIGINT)
    assert graph.wait_exit() == 130
    rows = list(bag.read_messages(str(record)))   # complete once the recorder stopped
    assert len(rows) >= 3 and {r.topic for r in rows} == {"thinned"}
    assert {r.message.source for r in rows} == {"thin"}
    # the relay forwards every 2nd message it receives: its n-th is at least tick 2n
    assert all(2 * r.message.seq <= int(r.value[0]) for r in rows)
    assert [int(r.value[0]) for r in rows] == sorted(int(r.value[0]) for r in rows)
    assert all(r.log_time_ns >= r.message.stamp_ns and r.value.dtype == "int64" for r in rows)
