"""The visualizer's web page, loaded by a real browser and over HTTP: live video and stats."""
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


def _stats(url: str) -> dict:
    return json.loads(urllib.request.urlopen(url + "stats.json", timeout=5).read())


def _wait_for_results(url: str, graph, timeout_s: float = 30) -> None:
    """Until the view has a result to draw: before it, it rightly shows frames bare."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _stats(url).get("results", 0) > 0:
            return
        graph.assert_running()
        time.sleep(0.1)
    raise AssertionError("the visualizer received no result")


def _read_frames(stream, count: int) -> bytes:
    """Read `count` JPEG frames off the page's stream: each one is a newly drawn view."""
    data = b""
    while data.count(b"\xff\xd9") < count and len(data) < 5_000_000:
        data += stream.read1(65536)
    return data


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
    _wait_for_results(url, graph)
    first = _screenshot(url, tmp_path / "first.png")
    with urllib.request.urlopen(url + "stream.mjpg", timeout=10) as stream:
        _read_frames(stream, count=5)  # the view moved on: new frames were drawn
    second = _screenshot(url, tmp_path / "second.png")
    shutil.copy(tmp_path / "second.png", "/tmp/visualizer_page.png")  # for a human to look at
    video = first[VIDEO].astype(np.int16)
    assert video.std() > 20, "the video area is blank"
    assert (video.mean(axis=2) > 180).mean() > 0.5, "no light pattern frame on the page"
    b, g, r = (video[:, :, i] for i in range(3))
    assert ((g > 120) & (b < 80) & (r < 80)).sum() > 200, "no boxes drawn over the words"
    changed = np.abs(video - second[VIDEO].astype(np.int16)).max(axis=2) > 40
    assert changed.sum() > 200, "the video did not change between two screenshots"
    stats = _stats(url)
    assert stats["camera_fps"] > 0 and stats["rendered"] > 0 and stats["results"] > 0


@pytest.mark.timeout(60)
def test_stream_is_multipart_jpeg(graph):
    url = _start(graph, max_fps=20.0)
    with urllib.request.urlopen(url + "stream.mjpg", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        data = _read_frames(response, count=3)
    parts = data.split(b"--edgeframe\r\n")[1:4]
    assert len(parts) == 3 and all(b"Content-Type: image/jpeg" in p for p in parts)
    header, _, body = parts[0].partition(b"\r\n\r\n")
    frame = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape == (480, 640, 3)
    page = urllib.request.urlopen(url, timeout=5).read().decode()
    assert '.src = "stream.mjpg"' in page and "stats.json" in page
