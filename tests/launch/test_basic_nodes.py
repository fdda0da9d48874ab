"""The built-in node types (nodes/basic.py) in a real launch."""
from __future__ import annotations

import json
import signal

import pytest

from edge.nodetype import load_node_type
from launch_process import wait_until

pytestmark = pytest.mark.timeout(60)


def test_built_in_types_are_registered():
    for name in ("ticker", "relay", "echo", "recorder"):
        assert load_node_type(name).__module__ == "nodes.basic"


def test_ticker_relay_echo_recorder(launch, rt_dir):
    record = rt_dir / "record.jsonl"
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

    def records():
        lines = record.read_text().splitlines() if record.exists() else []
        return [json.loads(line) for line in lines] if len(lines) >= 5 else None
    rows = wait_until(records, 10, "recorded messages")
    assert {r["topic"] for r in rows} == {"thinned"} and {r["source"] for r in rows} == {"thin"}
    # the relay forwards every 2nd message it receives: its n-th is at least tick 2n
    assert all(2 * r["seq"] <= r["value"][0] for r in rows)
    assert [r["value"][0] for r in rows] == sorted(r["value"][0] for r in rows)
    assert all(r["received_ns"] >= r["stamp_ns"] for r in rows)
    graph.proc.send_signal(signal.SIGINT)
    assert graph.wait_exit(15) == 130
