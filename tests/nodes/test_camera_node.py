"""The camera node type: its loop on edge.testing's fake clock; one real process for param.set."""
import logging

import numpy as np
import pytest

from edge.client import Client
from edge.testing import idle, param_event, run_node
from nodes.camera.node import Camera
from process_graph import collect
from video_clips import write_clip

pytestmark = pytest.mark.timeout(60)


def _camera(graph, **parameters):
    return {"name": "camera", "type": "camera", "parameters": parameters,
            "outputs": {"image": "camera/image", "truth": "camera/truth"}}


def _gaps_ms(messages) -> list[float]:
    return [round((b.stamp_ns - a.stamp_ns) / 1e6, 6) for a, b in zip(messages, messages[1:])]


def test_pattern_frames_are_paced_stamped_and_come_with_truth():
    run = run_node(Camera, params={"fps": 20.0, "seed": 3}, events=[idle(1.24)])
    images, truths = run.outputs("image"), run.outputs("truth")
    assert [m.value.frame_id for m in images] == list(range(25))   # 0 s .. 1.2 s, nothing lost
    assert [m.value.frame_id for m in truths] == list(range(25))
    for image, truth in zip(images, truths):
        assert image.stamp_ns == truth.stamp_ns
        assert image.value.data.shape == (480, 640, 3) and image.value.encoding == "bgr8"
        assert 0 < len(truth.value.strings) == len(truth.value.boxes)
    assert set(_gaps_ms(images)) == {50.0}                         # on the fake clock: exact
    stats = run.values("stats")
    assert [s.values["frames"] for s in stats] == [21]             # the 1 s tick saw 21 frames
    assert stats[0].values["skipped_slots"] == 0 and stats[0].values["target_fps"] == 20.0


def test_fps_changes_at_run_time():
    run = run_node(Camera, params={"fps": 10.0}, outputs=["image"],
                   events=[idle(0.45), param_event("fps", 40), idle(0.5)])
    gaps = _gaps_ms(run.outputs("image"))
    assert gaps[:4] == [100.0] * 4                   # 0, .1, .2, .3, .4 s at the old rate
    assert gaps[4] == 50.0                           # the first frame at the new rate: at once
    assert set(gaps[5:]) == {25.0} and len(gaps[5:]) == 20
    assert run.params["fps"] == 40.0


def test_fps_is_set_over_the_node_service(graph):
    spec = _camera(graph, fps=10.0)
    spec["service"] = graph.endpoint("camera-svc")
    graph.start([spec])
    probe = graph.probe({"image": "camera/image"})
    collect(probe, lambda e: True, timeout_s=15)
    with Client(spec["service"], timeout_s=3.0) as client:
        reply = client.call("param.set", {"key": "fps", "value": 40})
        assert reply == {"key": "fps", "value": 40.0}
        assert client.call("param.get", {"key": "fps"}) == 40.0
    frames = []
    collect(probe, lambda e: frames.append(e) or len(frames) >= 5, timeout_s=15)
    graph.assert_running()


@pytest.fixture
def clip(tmp_path):
    return write_clip(tmp_path / "clip.avi", [20 * i for i in range(12)])


def test_video_file_is_read_frame_by_frame_then_the_node_exits(clip, caplog):
    caplog.set_level(logging.INFO, logger="nodes.camera")
    run = run_node(Camera, params={"source": str(clip), "fps": 25.0, "start_delay_s": 1.0},
                   outputs=["image"], events=[idle(30.0)])
    frames = run.values("image")
    assert [f.frame_id for f in frames] == list(range(12))        # exactly 12, nothing after
    assert all(f.data.shape == (96, 128, 3) for f in frames)
    greens = [int(np.median(f.data[:, :, 1])) for f in frames]
    assert greens == sorted(greens) and abs(greens[-1] - 220) <= 8
    assert not any(e.kind == "stop" for e in run.node.delivered)  # it ended by itself
    assert run.node.clock.elapsed_s < 3.0
    assert "end of source" in caplog.text


def test_video_file_resized_and_looped(clip):
    run = run_node(Camera, params={"source": str(clip), "fps": 50.0, "loop": True,
                                   "width": 64, "height": 48}, events=[idle(0.59)])
    frames = run.values("image")
    assert [f.frame_id for f in frames] == list(range(30))        # past the 12 in the file
    assert all(f.data.shape == (48, 64, 3) for f in frames)
    assert any(e.kind == "stop" for e in run.node.delivered)      # still running at the end
