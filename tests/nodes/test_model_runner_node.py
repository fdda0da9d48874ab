"""The model_runner node type: its loop on edge.testing; one real camera -> runner pipeline."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model_manager"))

import onnx_fixtures  # noqa: E402
import tiny_onnx  # noqa: E402
from edge.errors import ConfigError  # noqa: E402
from edge.nodetype import Port  # noqa: E402
from edge.testing import input_event, run_node, timer_event  # noqa: E402
from messages import Image, Stats  # noqa: E402
from nodes.camera.node import Camera  # noqa: E402
from nodes.model_runner.node import ModelRunner  # noqa: E402
from process_graph import collect  # noqa: E402

pytestmark = pytest.mark.timeout(60)

RED_BGR = (0, 0, 255)


def _red_frame(frame_id: int, height: int = 120, width: int = 160) -> Image:
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = RED_BGR
    return Image(image, "bgr8", frame_id)


@pytest.mark.parametrize("order, best", [("bgr", "red"), ("rgb", "blue")])
def test_softmax_topk_classifies_with_the_configured_preprocessing(tmp_path, order, best):
    model = tiny_onnx.color_classifier(tmp_path)
    run = run_node(ModelRunner, params={
        "model": str(model), "postprocess": "softmax_topk", "top_k": 2, "channel_order": order,
        "labels": tiny_onnx.COLOR_LABELS},
        events=[input_event("image", _red_frame(7), stamp_ns=1234), timer_event("stats")])
    [message] = run.outputs("classes")
    result = message.value
    assert result.labels[0] == best and len(result.class_ids) == 2
    assert result.scores[0] > result.scores[1]
    assert message.stamp_ns == 1234 and result.frame_id == 7
    stats = run.values("stats")[0].values
    assert stats["processed"] == 1 and stats["inference_ms"] > 0 and stats["dropped"] == 0


def test_raw_tensors_from_a_uint8_nhwc_model_with_dynamic_size(tmp_path):
    model = tiny_onnx.color_classifier_uint8_nhwc(tmp_path)
    run = run_node(ModelRunner, params={"model": str(model)},
                   events=[input_event("image", _red_frame(0))])
    tensors = run.values("tensors")[0].tensors
    assert list(tensors) == ["scores"]
    np.testing.assert_allclose(tensors["scores"][0], [0, 0, 255, -255], atol=1e-3)


def test_each_result_keeps_its_frames_stamp_and_skips_are_counted(tmp_path):
    model = tiny_onnx.color_classifier(tmp_path)
    frames = [input_event("image", _red_frame(i), stamp_ns=1000 + i, dropped=i % 2)
              for i in range(6)]
    run = run_node(ModelRunner, params={"model": str(model), "postprocess": "raw"},
                   events=[*frames, timer_event("stats")])
    results = run.outputs("tensors")
    assert [r.stamp_ns for r in results] == [1000 + i for i in range(6)]
    assert run.values("stats")[0].values["dropped"] == 3 and run.stats["published"] == {
        "node/tensors": 6, "node/stats": 1}


def test_the_gate_holds_the_newest_frame_until_a_result_is_answered(tmp_path):
    model = tiny_onnx.color_classifier(tmp_path)
    frame = lambda i: input_event("image", _red_frame(i), stamp_ns=100 + i)   # noqa: E731
    run = run_node(ModelRunner, params={"model": str(model), "max_in_flight": 1}, events=[
        frame(0), frame(1), frame(2),          # 0 runs; 1 waits; 2 replaces it (a drop)
        input_event("gate", Stats("next", {}), stamp_ns=100),   # 0 answered: 2 runs
        frame(3), timer_event("stats")])       # 2 unanswered: 3 waits
    assert [r.stamp_ns for r in run.outputs("tensors")] == [100, 102]
    assert run.values("stats")[0].values["dropped"] == 1
    # each result derives from its frame (its per-hop trail), not from the gate that freed it
    assert [(r.parent.name, r.parent.stamp_ns) for r in run.published if r.output == "tensors"] \
        == [("image", 100), ("image", 102)]


def test_results_carry_the_frame_stamp_and_id(graph, tmp_path):
    model = tiny_onnx.color_classifier(tmp_path)
    graph.start([
        {"name": "camera", "type": "camera", "parameters": {"fps": 10.0},
         "outputs": {"image": "camera/image"}},
        {"name": "runner", "type": "model_runner",
         "parameters": {"model": str(model), "postprocess": "raw"},
         "inputs": {"image": "camera/image"}, "outputs": {"tensors": "runner/out"}},
    ])
    probe = graph.probe({"image": "camera/image", "out": "runner/out"})
    frames, results, gapless_since = {}, [], []

    def counted():
        """Results of frames from the probe's last seq gap on: the runner may have got frames
        the probe missed while it joined (or rejoined the camera after its rebind)."""
        return [r for r in results if gapless_since and r.stamp_ns >= gapless_since[-1]]

    def until(event):
        if event.name == "image":
            frames[event.stamp_ns] = event.value.frame_id
            if not gapless_since or event.dropped:
                gapless_since.append(event.stamp_ns)
        else:
            results.append(event)
        # a result can reach the probe before its (bigger) frame: wait for the frames too
        return len(counted()) >= 5 and all(r.stamp_ns in frames for r in counted())

    collect(probe, until, timeout_s=30)   # fails unless each result has a capture time we saw
    assert [r.stamp_ns for r in results] == sorted(r.stamp_ns for r in results)


# -- launch-time checks: no processes ------------------------------------------------------

CAMERA_IMAGE = Camera.outputs["image"]


def test_check_inputs_accepts_the_demo_models():
    assert ModelRunner.check_inputs({"model": "ppocr-det"}, {"image": CAMERA_IMAGE}) == []
    assert ModelRunner.check_inputs(
        {"model": "ppocr-rec"},
        {"image": CAMERA_IMAGE, "boxes": ModelRunner.outputs["boxes"]}) == []


@pytest.mark.parametrize("build, postprocess, expected", [
    (tiny_onnx.mono_classifier, "softmax_topk", "expects 1 channel(s), frames have 3"),
    (tiny_onnx.vector_model, "raw", "is not an image batch"),
    (tiny_onnx.two_input_model, "raw", "model has 2 inputs ('a', 'b')"),
    (tiny_onnx.color_classifier, "ctc_text", "no 'character' metadata"),
])
def test_check_inputs_rejects_a_model_that_does_not_fit(tmp_path, build, postprocess, expected):
    params = {"model": str(build(tmp_path)), "postprocess": postprocess}
    problems = ModelRunner.check_inputs(params, {"image": CAMERA_IMAGE})
    assert any(expected in p for p in problems), problems


def test_check_inputs_rejects_a_mismatched_producer(tmp_path):
    mono = Port("Image", dtype="uint8", shape=["height", "width", 1])
    problems = ModelRunner.check_inputs({"model": "ppocr-det"}, {"image": mono})
    assert problems == ["input 'image' needs 3 channels, its producer publishes 1"]
    problems = ModelRunner.check_inputs({"model": "ppocr-rec"},
                                        {"image": CAMERA_IMAGE, "boxes": Port("Text")})
    assert problems == ["input 'boxes' needs Detections messages, its producer publishes Text"]
    problems = ModelRunner.check_inputs({"model": "ppocr-rec"}, {"image": CAMERA_IMAGE})
    assert problems == ["ctc_text needs the `boxes` input connected (text boxes)"]


def test_check_inputs_names_a_missing_model(tmp_path):
    problems = ModelRunner.check_inputs({"model": str(tmp_path / "gone.onnx")}, {})
    assert problems == [f"model file not found: {tmp_path}/gone.onnx "
                        "(bundled aliases: ppocr-det, ppocr-rec)"]


@pytest.mark.parametrize("location", ["../../../../etc/passwd", "notes.txt"])
def test_a_model_that_reads_another_file_is_refused(tmp_path, location):
    path = tmp_path / "leak.onnx"
    path.write_bytes(onnx_fixtures.external_data_model(location))
    (tmp_path / "notes.txt").write_bytes(b"next to the model: read if loaded by path")
    expected = (f"{path}: tensor 'secret' keeps its data in an external file ({location!r}); "
                "models must be self-contained (onnx.save with save_as_external_data=False)")
    assert ModelRunner.check_inputs({"model": str(path)}, {"image": CAMERA_IMAGE}) == [expected]
    with pytest.raises(ConfigError) as err:
        run_node(ModelRunner, params={"model": str(path)},
                 events=[input_event("image", _red_frame(0))])
    assert err.value.message == expected and err.value.code == "INVALID_ARGUMENT"


def test_an_inference_error_is_counted_and_the_node_goes_on(tmp_path, caplog):
    model = tiny_onnx.fragile_model(tmp_path)
    frames = [input_event("image", _red_frame(i)) for i in range(3)]
    run = run_node(ModelRunner, params={"model": str(model)},
                   events=[*frames, timer_event("stats"), input_event("image", _red_frame(3, 8, 8)),
                           timer_event("stats")])
    assert [s.values["errors"] for s in run.values("stats")] == [3, 3]
    assert len(run.outputs("tensors")) == 1            # the 8 x 8 frame after the failures
    assert caplog.text.count("inference failed") == 1 and "Traceback" not in caplog.text
