"""Configuration mistakes end a node with one line naming the problem and exit code 78."""
import pytest

import tiny_onnx
from edge.run import EXIT_CONFIG

pytestmark = pytest.mark.timeout(60)


def _fails(graph, spec, message):
    graph.start_node(spec)
    assert graph.wait(spec["name"], timeout_s=30) == EXIT_CONFIG
    log = graph.log(spec["name"])
    assert log == f"node {spec['name']!r}: {message}\n"


def _camera(source):
    return {"name": "camera", "type": "camera", "parameters": {"source": source},
            "outputs": {"image": "camera/image"}}


def _runner(graph, **parameters):
    return {"name": "runner", "type": "model_runner", "parameters": parameters,
            "inputs": {"image": {"topic": "camera/image", "endpoint": graph.endpoint("nobody")}},
            "outputs": {"tensors": "runner/out"}}


def _visualizer(graph, env=None, **parameters):
    return {"name": "viz", "type": "visualizer", "parameters": parameters, "env": env,
            "inputs": {"image": {"topic": "camera/image", "endpoint": graph.endpoint("nobody")}}}


def test_missing_video_file(graph, tmp_path):
    _fails(graph, _camera(str(tmp_path / "clip.mp4")), f"video file not found: {tmp_path}/clip.mp4")


def test_missing_image_folder(graph, tmp_path):
    _fails(graph, _camera(str(tmp_path / "frames")),
           f"video file or image folder not found: {tmp_path}/frames")


def test_unreadable_video(graph, tmp_path):
    path = tmp_path / "broken.avi"
    path.write_bytes(b"not a video at all" * 1000)
    _fails(graph, _camera(str(path)), f"cannot decode video file: {path}")


def test_missing_camera_device(graph):
    _fails(graph, _camera(97), "camera device 97 cannot be opened")


def test_wrong_model_path(graph, tmp_path):
    _fails(graph, _runner(graph, model=str(tmp_path / "det.onnx")),
           f"model file not found: {tmp_path}/det.onnx (bundled aliases: ppocr-det, ppocr-rec)")


def test_model_file_that_is_not_onnx(graph, tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x00garbage" * 100)
    graph.start_node(_runner(graph, model=str(path)))
    assert graph.wait("runner", timeout_s=30) == EXIT_CONFIG
    log = graph.log("runner")
    assert log.startswith(f"node 'runner': {path} is not an ONNX model: ")
    assert log.count("\n") == 1


def test_model_with_mismatched_input_spec(graph, tmp_path):
    model = tiny_onnx.mono_classifier(tmp_path)
    _fails(graph, _runner(graph, model=str(model), postprocess="softmax_topk"),
           f"{model}: model input 'gray' float32[1, 1, 32, 32]: expects 1 channel(s), "
           "frames have 3")


def test_an_unreachable_model_manager(graph):
    endpoint = f"ipc://{graph.dir}/no-manager.sock"
    _fails(graph, _runner(graph, model="abc123", model_manager=endpoint),
           f"model 'abc123' from model manager {endpoint}: no answer (is the model manager "
           "running?)")


def test_video_sink_in_a_missing_folder(graph, tmp_path):
    _fails(graph, _visualizer(graph, sink="none", video_file=str(tmp_path / "no" / "out.avi")),
           f"video_file folder does not exist: {tmp_path}/no")


def test_window_sink_without_a_display(graph):
    _fails(graph, _visualizer(graph, env={"DISPLAY": None, "WAYLAND_DISPLAY": None},
                              sink="window"),
           "sink 'window' needs a display ($DISPLAY) and an OpenCV build with a GUI; "
           "use sink 'web' instead")
