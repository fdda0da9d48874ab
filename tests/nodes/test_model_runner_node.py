import cv2
import numpy as np
import pytest

import tiny_onnx
from edge.nodetype import Port
from nodes.camera.node import Camera
from nodes.model_runner.node import ModelRunner
from process_graph import collect

pytestmark = pytest.mark.timeout(60)

RED_BGR = (0, 0, 255)


@pytest.fixture
def red_frames(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    image = np.zeros((120, 160, 3), np.uint8)
    image[:] = RED_BGR
    cv2.imwrite(str(folder / "red.png"), image)
    return folder


def _pipeline(graph, frames, runner_params, output):
    graph.start([
        {"name": "camera", "type": "camera",
         "parameters": {"source": str(frames), "loop": True, "fps": 20.0},
         "outputs": {"image": "camera/image"}},
        {"name": "runner", "type": "model_runner", "parameters": runner_params,
         "inputs": {"image": "camera/image"},
         "outputs": {output: "runner/out", "stats": "runner/stats"}},
    ])
    return graph.probe({"out": "runner/out", "stats": "runner/stats"})


def _first(probe, name, timeout_s=30):
    found = []
    collect(probe, lambda e: e.name == name and not found.append(e), timeout_s)
    return found[0]


@pytest.mark.parametrize("order, best", [("bgr", "red"), ("rgb", "blue")])
def test_softmax_topk_classifies_with_the_configured_preprocessing(graph, tmp_path, red_frames,
                                                                   order, best):
    model = tiny_onnx.color_classifier(tmp_path)
    probe = _pipeline(graph, red_frames, {
        "model": str(model), "postprocess": "softmax_topk", "top_k": 2, "channel_order": order,
        "labels": tiny_onnx.COLOR_LABELS}, "classes")
    event = _first(probe, "out")
    result = event.value
    assert result.labels[0] == best and len(result.class_ids) == 2
    assert result.scores[0] > result.scores[1]
    assert event.stamp_ns > 0 and event.value.frame_id >= 0
    stats = _first(probe, "stats").value.values
    assert stats["processed"] >= 1 and stats["inference_ms"] > 0 and "dropped" in stats


def test_raw_tensors_from_a_uint8_nhwc_model_with_dynamic_size(graph, tmp_path, red_frames):
    model = tiny_onnx.color_classifier_uint8_nhwc(tmp_path)
    probe = _pipeline(graph, red_frames, {"model": str(model)}, "tensors")
    tensors = _first(probe, "out").value.tensors
    assert list(tensors) == ["scores"]
    np.testing.assert_allclose(tensors["scores"][0], [0, 0, 255, -255], atol=1e-3)


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
    frames, results = {}, []

    def until(event):
        if event.name == "image":
            frames[event.stamp_ns] = event.value.frame_id
        else:
            results.append(event)
        return len(results) >= 5

    collect(probe, until, timeout_s=30)
    assert all(r.stamp_ns in frames for r in results[1:])   # a capture time we saw published
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


def test_an_inference_error_is_counted_and_the_node_goes_on(graph, tmp_path, red_frames):
    model = tiny_onnx.fragile_model(tmp_path)
    probe = _pipeline(graph, red_frames, {"model": str(model)}, "tensors")
    errors = []
    collect(probe, lambda e: e.name == "stats" and errors.append(e.value.values["errors"])
            or (errors and errors[-1] >= 3), timeout_s=30)
    graph.assert_running()
    log = graph.log("runner")
    assert log.count("inference failed") == 1 and "Traceback" not in log
