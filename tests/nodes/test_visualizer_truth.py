"""The visualizer never draws a result on a frame it was not computed from.

A real browser (headless Chromium) steps through >= 100 images of the web view (`/?log=N`).
Results lag the camera by several frames and the words change every few frames, so a
result drawn on the newest frame would carry the wrong words. For every image, the test
checks what the view says it shows (frame, results' frames and strings) against the
camera's truth, and checks the pixels: the image must equal the camera's own frame with
that frame's true words drawn on it (status bar aside).
"""
import base64
import json
import re
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from browser import Browser
from nodes.visualizer.overlay import BAR_HEIGHT_PX, draw

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HERE = Path(__file__).resolve().parent
FRAMES = 100

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed "
                                "(apt-get install chromium) so the page cannot be rendered")


def _start(graph, align: str) -> tuple[str, object]:
    graph.start([
        {"name": "camera", "type": "camera",
         "parameters": {"fps": 20.0, "frames_per_set": 3, "seed": 5,
                        "start_delay_s": 1.0},
         "outputs": {"image": "camera/image", "truth": "camera/truth"}},
        {"name": "ocr", "type": "lagged_truth:LaggedTruth", "parameters": {"lag": 5},
         "inputs": {"truth": {"topic": "camera/truth", "queue_size": 100}},
         "outputs": {"text": "text/strings"}, "env": {"PYTHONPATH": str(HERE)}},
        {"name": "viz", "type": "visualizer",
         "parameters": {"sink": "web", "port": 0, "max_fps": 30.0, "align": align},
         "inputs": {"image": "camera/image", "text": "text/strings"}},
    ])
    probe = graph.probe({"image": "camera/image", "truth": "camera/truth"}, queue_size=10000)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = re.search(r"visualizer viz: (http://127\.0\.0\.1:\d+/)", graph.log("viz"))
        if found:
            return found.group(1), probe
        graph.assert_running()
        time.sleep(0.1)
    raise AssertionError("the visualizer printed no URL")


def _frame_log(url: str, count: int) -> list[dict]:
    with Browser(CHROMIUM) as browser:
        return browser.await_in_page(f"{url}?log={count}", "window.frameLog", timeout_s=90)


def _camera(probe, log: list, timeout_s: float = 20.0) -> tuple[dict, dict]:
    """frame_id -> (stamp_ns, frame) and frame_id -> truth Text for the frames the log shows,
    and the truth of every frame up to the last one shown (the probe has queued them all)."""
    last = max(json.loads(entry["view"])["frame_id"] for entry in log)
    needed = {json.loads(entry["view"])["frame_id"] for entry in log}
    frames, truth, deadline = {}, {}, time.monotonic() + timeout_s
    while (len(frames) < len(needed) or max(truth, default=-1) < last) and time.monotonic() < deadline:
        event = probe.next_event(timeout_s=0.5)
        if event is None or event.kind != "input":
            continue
        if event.name == "image" and event.value.frame_id in needed:
            frames[event.value.frame_id] = (event.stamp_ns, np.array(event.value.data))
        elif event.name == "truth":
            truth[event.value.frame_id] = event.value
    return frames, truth


def _mismatch(shown: np.ndarray, expected: np.ndarray) -> float:
    """Fraction of pixels (status bar aside) that differ beyond JPEG noise."""
    rows = slice(0, shown.shape[0] - BAR_HEIGHT_PX)
    a = cv2.blur(shown[rows].astype(np.float32), (3, 3))
    b = cv2.blur(expected[rows].astype(np.float32), (3, 3))
    return float((np.abs(a - b).max(axis=2) > 48).mean())


@pytest.mark.timeout(150)
def test_every_drawn_label_belongs_to_the_frame_it_is_drawn_on(graph):
    url, probe = _start(graph, "frame")
    log = _frame_log(url, FRAMES)
    frames, truth = _camera(probe, log)
    assert len(log) >= FRAMES
    labelled, word_sets = 0, set()
    for entry in log:
        view = json.loads(entry["view"])
        frame_id, result = view["frame_id"], view["results"].get("text")
        assert frame_id in frames and view["stamp_ns"] == frames[frame_id][0]
        assert not view["stale"]
        shown = cv2.imdecode(np.frombuffer(base64.b64decode(entry["jpeg"]), np.uint8), cv2.IMREAD_COLOR)
        assert entry["shown"] == [shown.shape[1], shown.shape[0]]
        if result is None:   # a frame without a result: drawn bare
            assert _mismatch(shown, draw(frames[frame_id][1])) < 0.002
            continue
        labelled += 1
        assert (result["frame_id"], result["stamp_ns"]) == (frame_id, frames[frame_id][0])
        words = truth[frame_id].strings
        assert result["strings"] == words
        word_sets.add(tuple(words))
        assert _mismatch(shown, draw(frames[frame_id][1], truth[frame_id])) < 0.002
        other = next(t for f, t in truth.items() if t.strings != words)
        assert _mismatch(shown, draw(frames[frame_id][1], other)) > 0.004  # the check can see wrong words
    assert labelled >= 0.9 * len(log) and len(word_sets) >= 5


@pytest.mark.timeout(120)
def test_align_latest_marks_older_results_stale(graph):
    url, probe = _start(graph, "latest")
    log = _frame_log(url, 20)
    frames, truth = _camera(probe, log)
    behind = 0
    for entry in log:
        view = json.loads(entry["view"])
        result = view["results"].get("text")
        if result is not None and result["frame_id"] != view["frame_id"]:
            behind += 1
            assert view["stale"].startswith("results from ")
            shown = cv2.imdecode(np.frombuffer(base64.b64decode(entry["jpeg"]), np.uint8), cv2.IMREAD_COLOR)
            stale = draw(frames[view["frame_id"]][1], truth[result["frame_id"]], stale=view["stale"])
            assert _mismatch(shown, stale) < 0.002
        elif result is not None:
            assert not view["stale"] and result["strings"] == truth[view["frame_id"]].strings
    assert behind >= 10
