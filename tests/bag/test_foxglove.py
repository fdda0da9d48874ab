"""Foxglove: recordings exported with Foxglove schemas, and a live graph over Foxglove's WebSocket."""
from __future__ import annotations

import json
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader

from edge import bag
from messages import Image, Text

foxglove = pytest.importorskip("foxglove", reason="the foxglove extra (foxglove-sdk) is not installed")

from ws_client import WebSocket  # noqa: E402

EDGE = str(Path(sys.executable).parent / "edge")


def export_foxglove(source: Path, target: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([EDGE, "bag", "export", str(source), "-o", str(target), "--foxglove"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done


def test_export_writes_foxglove_images_and_annotations(tmp_path):
    source, target = tmp_path / "run.mcap", tmp_path / "fox.mcap"
    with bag.write(str(source)) as out:
        for n in range(3):
            out.add("camera/image", Image(np.full((48, 64, 3), n, np.uint8), "bgr8", n), stamp_ns=1000 + n)
            out.add("text/strings", Text(["word"], np.array([[1, 2, 30, 12]], np.float32), None, None, n),
                    stamp_ns=1000 + n)
            out.add("numbers", np.arange(3))
    done = export_foxglove(source, target)
    assert "6 message(s) as Foxglove schemas, 3 without a Foxglove form skipped" in done.stdout
    with open(target, "rb") as stream:
        seen = [(c.topic, s.name, c.message_encoding, m.log_time, len(m.data))
                for s, c, m in make_reader(stream).iter_messages()]
    images = [row for row in seen if row[0] == "camera/image"]
    assert [row[1:3] for row in images] == [("foxglove.RawImage", "protobuf")] * 3
    assert all(row[4] > 48 * 64 * 3 for row in images)
    notes = [row for row in seen if row[0] == "text/strings"]
    assert [row[1] for row in notes] == ["foxglove.ImageAnnotations"] * 3


def test_a_topic_that_mixes_images_and_results_keeps_its_first_kind(tmp_path):
    """Foxglove has one schema per channel: the other kind is skipped, not a crash."""
    source, target = tmp_path / "mixed.mcap", tmp_path / "fox.mcap"
    with bag.write(str(source)) as out:
        for n in range(2):
            out.add("mixed", Image(np.full((8, 8, 3), n, np.uint8), "bgr8", n), stamp_ns=10 + n)
            out.add("mixed", Text(["w"], np.array([[1, 2, 3, 4]], np.float32), None, None, n),
                    stamp_ns=10 + n)
    done = export_foxglove(source, target)
    assert "2 message(s) as Foxglove schemas, 2 without a Foxglove form skipped" in done.stdout
    assert "topic 'mixed': a Text after image messages" in done.stderr


@pytest.mark.timeout(90)
def test_live_graph_over_the_foxglove_websocket(launch, edge_env):
    graph = launch("fox", """\
name: fox
nodes:
  - name: camera
    type: camera
    parameters: {fps: 10}
    outputs: {image: camera/image, truth: camera/truth}
""")
    graph.wait_ready()
    server = subprocess.Popen([EDGE, "foxglove", "--port", "0", "--control", graph.control], env=edge_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline()
        found = re.search(r"ws://127\.0\.0\.1:(\d+) serving 2 topic", line)
        assert found, line
        socket = WebSocket("127.0.0.1", int(found.group(1)), "foxglove.sdk.v1")
        assert " 101 " in socket.status
        channels, deadline = {}, time.monotonic() + 30
        while len(channels) < 2 and time.monotonic() < deadline:
            opcode, payload = socket.receive()
            if opcode == 1 and json.loads(payload).get("op") == "advertise":
                channels.update({c["topic"]: c for c in json.loads(payload)["channels"]})
        assert channels["camera/image"]["schemaName"] == "foxglove.RawImage"
        assert channels["camera/truth"]["schemaName"] == "foxglove.ImageAnnotations"
        socket.send_json({"op": "subscribe", "subscriptions": [{"id": 7, "channelId": channels["camera/image"]["id"]}]})
        while True:
            opcode, payload = socket.receive()
            if opcode == 2 and payload[0] == 1:   # messageData: op, subscription id, log time, data
                break
        assert struct.unpack_from("<I", payload, 1)[0] == 7 and len(payload) > 640 * 480 * 3
        socket.close()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        finally:
            server.kill()
