"""A KenningFlow JSON written for Kenning runs here: its runner classes map onto our node types."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

import tiny_onnx
from edge.launch.validate import check_file

EDGE = [sys.executable, "-c", "from edge.cli import main; main()"]
CAMERA = "kenning.dataproviders.camera_dataprovider.CameraDataProvider"
RUNNER = "kenning.runners.modelruntime_runner.ModelRuntimeRunner"


def flow(model, frames) -> list:
    return [
        {"type": CAMERA,
         "parameters": {"video_file_path": str(frames), "input_memory_layout": "NCHW",
                        "input_width": 64, "input_height": 48},
         "outputs": {"frame": "cam_frame"}},
        {"type": RUNNER,
         "parameters": {
             "model_wrapper": {"type": "kenning.modelwrappers.classification.custom.Colors",
                               "parameters": {"model_path": str(model)}},
             "runtime": {"type": "kenning.runtimes.onnx.ONNXRuntime",
                         "parameters": {"save_model_path": str(model),
                                        "execution_providers": ["CPUExecutionProvider"]}}},
         "inputs": {"input": "cam_frame"}, "outputs": {"classification": "predictions"}},
    ]


@pytest.fixture
def files(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "red.png"), np.full((48, 64, 3), (0, 0, 255), np.uint8))
    return tiny_onnx.color_classifier(tmp_path), frames


def test_kenning_runners_become_our_node_types(tmp_path, files):
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(flow(*files), indent=2))
    graph, types, problems = check_file(path)
    assert problems == []
    camera, runner = graph.nodes
    assert (camera.name, camera.type, runner.name, runner.type) == (
        "camera", "camera", "model_runner", "model_runner")
    assert camera.parameters == {"source": str(files[1]), "width": 64, "height": 48, "loop": True}
    assert camera.outputs == {"image": "cam_frame"}
    assert runner.parameters == {"model": str(files[0]), "postprocess": "softmax_topk"}
    assert runner.inputs["image"].topic == "cam_frame"
    assert runner.outputs == {"classes": "predictions"}


@pytest.mark.timeout(120)
def test_a_kenning_flow_runs_as_written(tmp_path, files):
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(flow(*files), indent=2))
    out = tmp_path / "out"
    run = subprocess.run([*EDGE, "measure", str(path), "--duration", "2", "--warmup", "0.5",
                          "-o", str(out)], capture_output=True, text=True, timeout=110)
    assert run.returncode == 0, run.stderr + (out / "launch.log").read_text()
    doc = json.loads((out / "measurements.json").read_text())
    assert doc["topics"]["predictions"]["schema"] == "Classification"
    assert doc["topics"]["predictions"]["received"] > 0


def test_what_has_no_counterpart_is_named_with_its_line(tmp_path, files):
    entries = flow(*files)
    entries[0]["parameters"]["exposure"] = 3
    entries[1]["outputs"] = {"classification": "predictions", "scores": "more"}
    entries.append({"type": "kenning.outputcollectors.real_time_visualizers."
                            "RealTimeSegmentationVisualization",
                    "inputs": {"frame": "cam_frame", "segmentation_data": "predictions"}})
    path = tmp_path / "flow.json"
    text = json.dumps(entries, indent=2)
    path.write_text(text)
    lines = text.splitlines()
    run = subprocess.run([*EDGE, "check", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    errors = run.stderr.strip().splitlines()[:-1]
    assert len(errors) == 3, run.stderr
    for error, needle in zip(errors, ['"exposure"', '"scores"', 'RealTimeSegmentation']):
        line = int(error.split(":")[1])
        assert needle in lines[line - 1], (error, lines[line - 1])
    assert "parameter 'exposure' has no counterpart" in errors[0]
    assert "output 'scores' is a second 'classes'" in errors[1]
    assert "RealTimeSegmentationVisualization has no counterpart" in errors[2]


def test_json_launch_files_report_semantic_errors_with_line_numbers(tmp_path):
    path = tmp_path / "graph.json"
    path.write_text('{\n  "name": "g",\n  "nodes": [\n    {"name": "t", "type": "ticker",\n'
                    '     "parameters": {"rate_hz": 5},\n     "restart": "sometimes"}\n  ]\n}\n')
    _, _, problems = check_file(path)
    assert [(p.line, p.key) for p in problems] == [(6, "restart")]
