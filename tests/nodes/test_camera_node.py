import cv2
import numpy as np
import pytest

from edge.client import Client
from process_graph import collect

pytestmark = pytest.mark.timeout(60)


def _camera(graph, **parameters):
    return {"name": "camera", "type": "camera", "parameters": parameters,
            "outputs": {"image": "camera/image", "truth": "camera/truth"}}


def test_pattern_frames_are_paced_stamped_and_come_with_truth(graph):
    graph.start([_camera(graph, fps=20.0, seed=3)])
    probe = graph.probe({"image": "camera/image", "truth": "camera/truth"})
    images, truths = {}, {}

    def until(event):
        (images if event.name == "image" else truths)[event.value.frame_id] = event
        return len(set(images) & set(truths)) >= 25

    collect(probe, until, timeout_s=20)
    ids = sorted(images)
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # consecutive: nothing lost
    for frame_id in set(images) & set(truths):
        image, truth = images[frame_id], truths[frame_id]
        assert image.stamp_ns == truth.stamp_ns
        assert image.value.data.shape == (480, 640, 3) and image.value.encoding == "bgr8"
        assert 0 < len(truth.value.strings) == len(truth.value.boxes)
    stamps = [images[i].stamp_ns for i in ids]
    # The median, not the mean: under load a frame that misses its slot is skipped, by design.
    period_ms = np.median(np.diff(stamps)) / 1e6
    assert period_ms == pytest.approx(50.0, rel=0.1)


def test_fps_changes_at_run_time(graph):
    spec = _camera(graph, fps=10.0)
    spec["service"] = graph.endpoint("camera-svc")
    graph.start([spec])
    probe = graph.probe({"image": "camera/image"})
    stamps = []
    collect(probe, lambda e: stamps.append(e.stamp_ns) or len(stamps) >= 5, timeout_s=15)
    with Client(spec["service"], timeout_s=3.0) as client:
        reply = client.call("param.set", {"key": "fps", "value": 40})
    assert reply == {"key": "fps", "value": 40.0}
    collect(probe, lambda e: True, timeout_s=5)  # frames still paced at the old rate
    fast = []
    collect(probe, lambda e: fast.append(e.stamp_ns) or len(fast) >= 20, timeout_s=15)
    assert np.median(np.diff(stamps)) / 1e6 == pytest.approx(100.0, rel=0.1)
    assert np.median(np.diff(fast[2:])) / 1e6 == pytest.approx(25.0, rel=0.15)


def _frame(value: int) -> np.ndarray:
    image = np.zeros((96, 128, 3), dtype=np.uint8)
    image[:, :, 1] = value
    cv2.putText(image, str(value), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 2)
    return image


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 96))
    assert writer.isOpened()
    for i in range(12):
        writer.write(_frame(20 * i))
    writer.release()
    return path


def test_video_file_is_read_frame_by_frame_then_the_node_exits(graph, clip):
    graph.start([_camera(graph, source=str(clip), fps=25.0, start_delay_s=1.0)])
    probe = graph.probe({"image": "camera/image"})
    frames = []
    collect(probe, lambda e: frames.append(e.value) or len(frames) == 12, timeout_s=20)
    assert graph.wait("camera", timeout_s=10) == 0
    assert probe.next_event(timeout_s=0.5) is None   # exactly 12, nothing after the end
    assert [f.frame_id for f in frames] == list(range(12))
    assert all(f.data.shape == (96, 128, 3) for f in frames)
    greens = [int(np.median(f.data[:, :, 1])) for f in frames]
    assert greens == sorted(greens) and abs(greens[-1] - 220) <= 8
    assert "end of source" in graph.log("camera")


def test_video_file_resized_and_looped(graph, clip):
    graph.start([_camera(graph, source=str(clip), fps=50.0, loop=True, width=64, height=48)])
    probe = graph.probe({"image": "camera/image"})
    frames = []
    collect(probe, lambda e: frames.append(e.value) or len(frames) == 30, timeout_s=20)
    assert all(f.data.shape == (48, 64, 3) for f in frames)
    graph.assert_running()
