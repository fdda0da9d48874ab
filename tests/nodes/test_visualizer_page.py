"""The visualizer's web page, loaded by a real browser: live video and stats."""
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=900,760"]
VIDEO = (slice(60, 520), slice(20, 660))   # rows, columns of the 640x480 video on the page


def _start(graph, **viz):
    graph.start([
        {"name": "camera", "type": "camera", "parameters": {"fps": 10.0, "seed": 2},
         "outputs": {"image": "camera/image", "truth": "camera/truth"}},
        {"name": "viz", "type": "visualizer", "parameters": {"sink": "web", "port": 0, **viz},
         "inputs": {"image": "camera/image", "text": "camera/truth"}},
    ])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = re.search(r"visualizer viz: (http://127\.0\.0\.1:\d+/)", graph.log("viz"))
        if found:
            return found.group(1)
        graph.assert_running()
        time.sleep(0.1)
    raise AssertionError("the visualizer printed no URL")


def _screenshot(url: str, path: Path) -> np.ndarray:
    with tempfile.TemporaryDirectory(dir="/tmp") as profile:
        subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={path}",
                        url], capture_output=True, timeout=60, check=True)
    image = cv2.imread(str(path))
    assert image is not None, f"chromium wrote no screenshot to {path}"
    return image


@pytest.mark.timeout(150)
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed "
                    "(apt-get install chromium) so the page cannot be rendered")
def test_page_shows_live_video_in_a_browser(graph, tmp_path):
    url = _start(graph)
    first = _screenshot(url, tmp_path / "first.png")
    time.sleep(1.0)
    second = _screenshot(url, tmp_path / "second.png")
    shutil.copy(tmp_path / "second.png", "/tmp/visualizer_page.png")  # for a human to look at
    video = first[VIDEO].astype(np.int16)
    assert video.std() > 20, "the video area is blank"
    assert (video.mean(axis=2) > 180).mean() > 0.5, "no light pattern frame on the page"
    b, g, r = (video[:, :, i] for i in range(3))
    assert ((g > 120) & (b < 80) & (r < 80)).sum() > 200, "no boxes drawn over the words"
    changed = np.abs(video - second[VIDEO].astype(np.int16)).max(axis=2) > 40
    assert changed.sum() > 200, "the video did not change between two screenshots"
    stats = json.loads(urllib.request.urlopen(url + "stats.json", timeout=5).read())
    assert stats["camera_fps"] > 0 and stats["rendered"] > 0 and stats["results"] > 0


@pytest.mark.timeout(60)
def test_stream_is_multipart_jpeg(graph):
    url = _start(graph, max_fps=20.0)
    with urllib.request.urlopen(url + "stream.mjpg", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        data = b""
        while data.count(b"\xff\xd9") < 3 and len(data) < 5_000_000:
            data += response.read1(65536)
    parts = data.split(b"--edgeframe\r\n")[1:4]
    assert len(parts) == 3 and all(b"Content-Type: image/jpeg" in p for p in parts)
    header, _, body = parts[0].partition(b"\r\n\r\n")
    frame = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape == (480, 640, 3)
    page = urllib.request.urlopen(url, timeout=5).read().decode()
    assert '.src = "stream.mjpg"' in page and "stats.json" in page


@pytest.mark.timeout(60)
def test_video_file_sink_writes_a_playable_avi(graph, tmp_path):
    path = tmp_path / "view.avi"
    graph.start([
        {"name": "camera", "type": "camera", "parameters": {"fps": 10.0},
         "outputs": {"image": "camera/image", "truth": "camera/truth"}},
        {"name": "viz", "type": "visualizer",
         "parameters": {"sink": "none", "video_file": str(path), "align": "frame"},
         "inputs": {"image": "camera/image", "text": "camera/truth"},
         "outputs": {"stats": "viz/stats"}},
    ])
    probe = graph.probe({"stats": "viz/stats"})
    seen = []
    collect_until = time.monotonic() + 30
    while time.monotonic() < collect_until and not (seen and seen[-1]["rendered"] >= 10):
        event = probe.next_event(timeout_s=0.5)
        if event is not None and event.kind == "input":
            seen.append(event.value.values)
    assert seen and seen[-1]["rendered"] >= 10
    assert graph.close()["viz"] == 0
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) >= 10 and frames[0].shape == (480, 640, 3)
