"""The README's demo through `edge launch`, joined by an ad-hoc script as a user would:
the script finds the topics through the control endpoint and scores the recognised words."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from edge import Client, Node
from edge.errors import EdgeError
from nodes.ocr.scoring import WordScore, word_accuracy

DEMO = Path(__file__).resolve().parents[2] / "launch" / "ocr_demo.yaml"
RESULT_FRAMES = 10


def demo_file(directory: Path) -> Path:
    """The demo as shipped, paced for a loaded 2-core machine and on a free web port."""
    graph = yaml.safe_load(DEMO.read_text())
    for node in graph["nodes"]:
        if node["name"] == "camera":
            node["parameters"].update(fps=3, frames_per_set=1, seed=7)
        if node["name"] == "visualizer":
            node["parameters"]["port"] = 0
    path = directory / "demo.yaml"
    path.write_text(yaml.safe_dump(graph))
    return path


def wait_ready(control: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with Client(control, timeout_s=1, retries=0) as client:
                nodes = client.call("nodes")
            if nodes and all(n["ready"] for n in nodes):
                return
        except EdgeError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the demo's nodes were not ready within {timeout_s} s")


@pytest.mark.timeout(180)
def test_launched_demo_reads_the_words(tmp_path):
    runtime = tempfile.mkdtemp(prefix="edge-", dir="/tmp")
    control = f"ipc://{runtime}/control.sock"
    env = {**os.environ, "EDGE_RUNTIME_DIR": runtime}
    launch = subprocess.Popen([str(Path(sys.executable).parent / "edge"), "launch",
                               str(demo_file(tmp_path)), "--control", control, "--no-color"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    probe = None
    try:
        wait_ready(control, 90)
        probe = Node("probe", control=control, handle_signals=False)
        probe.subscribe("text", topic="text/strings", queue_size=100)
        probe.subscribe("truth", topic="camera/truth", queue_size=100)
        truths, texts = {}, {}
        deadline = time.monotonic() + 120
        while len(set(texts) & set(truths)) < RESULT_FRAMES and time.monotonic() < deadline:
            event = probe.next_event(timeout_s=1)
            if event is not None and event.kind == "input":
                (texts if event.name == "text" else truths)[event.value.frame_id] = event.value
        score = WordScore()
        for frame_id in set(texts) & set(truths):
            truth, text = truths[frame_id], texts[frame_id]
            score += word_accuracy(list(zip(truth.strings, truth.boxes.tolist())),
                                   list(zip(text.strings, text.boxes.tolist())))
        print(f"\nlaunched demo: word accuracy {score.correct}/{score.total} = {score.accuracy:.3f}")
        assert score.total >= 5 * RESULT_FRAMES and score.accuracy >= 0.9
        launch.send_signal(signal.SIGINT)
        assert launch.wait(timeout=20) == 130
        assert not list(Path(runtime).rglob("*.sock")), "ipc files left behind"
    finally:
        if probe is not None:
            probe.close()
        if launch.poll() is None:
            launch.kill()
            launch.wait(timeout=10)
        shutil.rmtree(runtime, ignore_errors=True)
