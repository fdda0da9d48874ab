"""`edge topic latency` per hop on a launched graph whose source turns the trail on; the
trail survives `edge bag record` and is re-timed by the player."""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from edge import bag
from edge.bag.play import Player
from messages import StreamMessage

EDGE = str(Path(sys.executable).parent / "edge")

GRAPH = """\
name: trail
nodes:
  - name: source
    type: ticker
    trail: true
    parameters: {rate_hz: 100}
    outputs: {tick: t/raw}
  - name: middle
    type: relay
    inputs: {in: t/raw}
    outputs: {out: t/mid}
  - name: last
    type: relay
    inputs: {in: t/mid}
    outputs: {out: t/out}
"""
SEGMENTS = ["in source", "source -> middle", "in middle", "middle -> last", "in last",
            "last -> here"]


def _edge(env, *args):
    result = subprocess.run([EDGE, *args], env=env, capture_output=True, text=True, timeout=40)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.timeout(90)
def test_latency_names_the_hops_in_order_and_they_add_up(launch, edge_env):
    graph = launch("trail", GRAPH)
    graph.wait_ready()
    control = ["--control", graph.control]
    out = _edge(edge_env, "topic", "latency", "t/out", "--duration", "2", *control)
    found = re.search(r"per hop \((\d+) messages with trail source > middle > last\), ms:", out)
    assert found and int(found.group(1)) >= 20, out
    rows = re.findall(r"^    (.+?)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)$",
                      out, re.MULTILINE)
    labels = [label for label, *_ in rows]
    assert labels == SEGMENTS + ["total (first hop -> here)"], out
    means = [float(row[5]) for row in rows]
    assert all(mean >= 0 for mean in means), out     # one host, one clock
    assert sum(means[:-1]) == pytest.approx(means[-1], abs=0.05), out   # rounding of 6 rows
    p50s = [float(row[1]) for row in rows]
    assert p50s[-1] <= sum(max(float(row[4]), 0) for row in rows[:-1]), out
    capture_p50 = float(re.search(r"capture -> here: p50 ([\d.]+) ms", out).group(1))
    assert p50s[-1] == pytest.approx(capture_p50, abs=0.011), out   # the source hop starts at capture
    echo = _edge(edge_env, "topic", "echo", "t/out", "-n", "1", *control)
    assert re.search(r"from last age [\d.]+ ms dropped \d+ trail source > middle > last: ", echo)
    recorded = str(Path(edge_env["EDGE_RUNTIME_DIR"]) / "trail.mcap")
    _edge(edge_env, "bag", "record", "t/out", "-o", recorded, "--duration", "1", *control)
    trails = [item.message.trail for item in bag.read_messages(recorded)]
    assert trails and all([hop[0] for hop in trail] == ["source", "middle", "last"]
                          for trail in trails)


@pytest.mark.parametrize("restamp", [False, True])
@pytest.mark.timeout(30)
def test_the_player_moves_a_trail_with_pub_ns_and_restamp_drops_it(tmp_path, restamp):
    path = str(tmp_path / "trail.mcap")
    with bag.write(path) as out:
        for n in range(3):
            trail = [["cam", 1000 + n, 1500 + n], ["pre", 1700 + n, 2000 + n]]
            out.add_message(StreamMessage("t", np.int64(n), n + 1, 1000 + n, 2000 + n, "pre", trail),
                            10**18 + n * 1_000_000)
    endpoint = f"ipc://{tempfile.mkdtemp(dir='/tmp', prefix='ebt')}/play.sock"
    player = Player({"t": endpoint}, handle_signals=False)
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"t")
    sub.connect(endpoint)
    try:
        assert player.wait_for_subscribers(1, 5.0) == []
        before_ns = time.time_ns()
        player.play(lambda: bag.read_messages(path), restamp=restamp)
        got = [StreamMessage.from_frames(sub.recv_multipart()) for _ in range(3) if sub.poll(5000)]
    finally:
        sub.close(linger=0)
        player.close()
    assert len(got) == 3
    for message in got:
        if restamp:
            assert message.trail is None
            continue
        (cam, cam_recv, cam_pub), (pre, pre_recv, pre_pub) = message.trail
        assert (cam, pre) == ("cam", "pre") and pre_pub == message.pub_ns >= before_ns
        assert (cam_pub - cam_recv, pre_recv - cam_pub, pre_pub - pre_recv) == (500, 200, 300)
