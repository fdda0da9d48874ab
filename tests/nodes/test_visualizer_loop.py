"""The visualizer node type's loop on edge.testing: frames and results in, view and stats out."""
import time

import cv2
import numpy as np
import pytest

from edge.testing import idle, input_event, run_node, timer_event
from messages import Image, Text
from nodes.visualizer.node import Visualizer

pytestmark = pytest.mark.timeout(30)

CAPTURED_NS = 1_700_000_000_000_000_000   # the fake clock's wall time at the start


def _frame(frame_id: int) -> Image:
    image = np.full((480, 640, 3), 40 + 10 * frame_id, np.uint8)
    return Image(image, "bgr8", frame_id)


def _text(frame_id: int) -> Text:
    return Text(["word"], np.array([[100, 100, 300, 160]], np.float32), frame_id=frame_id)


def _frames_and_text(count: int) -> list:
    events = []
    for i in range(count):
        stamp_ns = CAPTURED_NS + i * 100_000_000
        events += [input_event("image", _frame(i), stamp_ns=stamp_ns),
                   input_event("text", _text(i), stamp_ns=stamp_ns), timer_event("render")]
    return events


def test_video_file_sink_writes_a_playable_avi(tmp_path):
    path = tmp_path / "view.avi"
    run = run_node(Visualizer, params={"sink": "none", "video_file": str(path), "align": "frame"},
                   events=[*_frames_and_text(12), timer_event("stats")])
    assert run.values("stats")[-1].values["rendered"] == 12    # one per new frame and result
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    assert len(frames) == 12 and frames[0].shape == (480, 640, 3)
    b, g, r = (frames[0][100:160, 100:300, i].astype(int) for i in range(3))
    assert ((g > 120) & (b < 80) & (r < 80)).sum() > 50          # the box around the word


def test_latency_is_arrival_minus_capture_and_frames_behind_counts_newer_frames():
    events = [input_event("image", _frame(i), stamp_ns=CAPTURED_NS + i * 10**8) for i in range(4)]
    run = run_node(Visualizer, params={"sink": "none"}, events=[
        *events, idle(0.25), input_event("text", _text(1), stamp_ns=CAPTURED_NS + 10**8)])
    [latency] = run.values("latency")
    # the result arrives 0.25 s after start; its frame was captured 0.1 s after start
    assert latency.values == {"frame_id": 1, "latency_ms": 150.0, "frames_behind": 2}
    assert run.outputs("latency")[0].stamp_ns == CAPTURED_NS + 10**8


def test_nothing_is_drawn_when_no_sink_shows_it():
    run = run_node(Visualizer, params={"sink": "none"},
                   events=[*_frames_and_text(3), timer_event("stats")])
    values = run.values("stats")[-1].values
    assert values["rendered"] == 0 and values["frames"] == 3 and values["results"] == 3


def test_the_image_input_must_be_connected():
    from edge.errors import ConfigError
    with pytest.raises(ConfigError, match="the `image` input must be connected"):
        run_node(Visualizer, params={"sink": "none"}, inputs=["text"])


def test_the_web_view_closes_connections_that_send_no_request():
    """Each connection has a thread: idle ones (never a request line) must not pile up."""
    import socket
    import time

    from nodes.visualizer import web

    view = web.WebView(web.LatestFrame(), request_timeout_s=0.5)
    try:
        host, port = view.server.server_address[:2]
        idle_clients = [socket.create_connection((host, port), timeout=10) for _ in range(20)]
        started = time.monotonic()
        for client in idle_clients:
            assert client.recv(1) == b""  # closed by the server (before: blocked for good)
            client.close()
        assert time.monotonic() - started < 5
    finally:
        view.close()


def test_the_web_view_serves_at_most_max_connections_at_once():
    """A flood of connections costs at most max_connections threads; one over is closed at
    once, and a connection is served again when one ends."""
    import socket
    import threading
    import urllib.request

    from nodes.visualizer import web

    view = web.WebView(web.LatestFrame(), request_timeout_s=20, max_connections=3)
    try:
        host, port = view.server.server_address[:2]
        threads = threading.active_count()
        held = [socket.create_connection((host, port), timeout=10) for _ in range(3)]
        extra = [socket.create_connection((host, port), timeout=10) for _ in range(10)]
        for client in extra:
            assert client.recv(1) == b""  # closed without waiting for the held ones
            client.close()
        assert threading.active_count() <= threads + 3
        held.pop().close()
        deadline = time.monotonic() + 10
        while True:  # the held connection's thread ends when it sees the close
            try:
                with urllib.request.urlopen(f"http://{host}:{port}/stats.json", timeout=10) as reply:
                    assert reply.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        for client in held:
            client.close()
    finally:
        view.close()
