"""`edge model regress`: a candidate on a model_runner's recorded inputs vs its recorded outputs."""
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

import tiny_onnx
from edge.bag import BagWriter
from messages import Image
from nodes.camera.pattern import PatternScene
from nodes.model_runner.model import effective_parameters, locate_model, read_model
from nodes.model_runner.node import ModelRunner, build_task
from test_model_shadow import perturbed

EDGE = [sys.executable, "-c", "from edge.cli import main; main()"]
pytestmark = pytest.mark.timeout(120)


def record(tmp_path, runner: dict, output: str, frames: int) -> tuple:
    """A launch file and a recording of its runner, as `edge bag record` would have kept it:
    the camera's frames and what the runner published for each, same capture stamps."""
    launch = tmp_path / "graph.yaml"
    launch.write_text(yaml.safe_dump({"name": "recorded", "nodes": [
        {"name": "camera", "type": "camera", "outputs": {"image": "camera/image"}},
        {"name": "runner", "type": "model_runner", "parameters": runner,
         "inputs": {"image": "camera/image"}, "outputs": {output: "runner/out"}}]}))
    params = effective_parameters(ModelRunner.resolve_parameters(runner)[0])
    task = build_task(read_model(locate_model(params)), params)
    scene = PatternScene(640, 480, seed=3, frames_per_set=1)
    path = tmp_path / "run.mcap"
    with BagWriter(str(path)) as bag:
        for frame_id in range(frames):
            stamp_ns = 1_700_000_000_000_000_000 + frame_id * 100_000_000
            image = Image(np.ascontiguousarray(scene.render(frame_id, 0)[0]), frame_id=frame_id)
            bag.add("camera/image", image, stamp_ns=stamp_ns, source="camera")
            bag.add("runner/out", task(image), stamp_ns=stamp_ns, source="runner")
    return launch, path


def regress(launch, recording, model, *extra):
    return subprocess.run([*EDGE, "model", "regress", str(recording), "--launch", str(launch),
                           "--node", "runner", "--model", str(model), *extra],
                          capture_output=True, text=True, timeout=110)


def test_the_same_model_passes_and_a_perturbed_one_fails_with_the_diff(tmp_path):
    model = tiny_onnx.color_classifier(tmp_path)
    launch, recording = record(tmp_path, {"model": str(model), "postprocess": "raw",
                                          "size": [8, 8], "keep_aspect": False}, "tensors", 6)
    same = regress(launch, recording, model, "--json", str(tmp_path / "same.json"))
    assert same.returncode == 0, same.stderr + same.stdout
    assert "frames compared: 6" in same.stdout and same.stdout.rstrip().endswith("PASS")
    result = json.loads((tmp_path / "same.json").read_text())
    assert result["mismatch_rate"] == 0.0 and result["max_abs_diff"] == 0.0
    assert result["failures"] == []

    worse = regress(launch, recording, perturbed(model, tmp_path))
    assert worse.returncode == 1, worse.stderr
    assert "FAIL: mismatch_rate" in worse.stdout and worse.stdout.rstrip().endswith("FAIL")
    assert "tensor scores: max_abs_diff" in worse.stdout
    assert "frame 0: recorded {'scores': [1, 4]}" in worse.stdout


def test_ocr_detector_regression_compares_boxes(tmp_path):
    launch, recording = record(tmp_path, {"model": "ppocr-det", "threads": 1}, "boxes", 2)
    run = regress(launch, recording, "ppocr-det", "--json", str(tmp_path / "det.json"))
    assert run.returncode == 0, run.stderr + run.stdout
    result = json.loads((tmp_path / "det.json").read_text())
    assert result["frames"] == 2 and result["mean_box_iou"] == 1.0


def test_an_unknown_node_is_one_line(tmp_path):
    model = tiny_onnx.color_classifier(tmp_path)
    launch, recording = record(tmp_path, {"model": str(model), "postprocess": "raw",
                                          "size": [8, 8], "keep_aspect": False}, "tensors", 1)
    run = subprocess.run([*EDGE, "model", "regress", str(recording), "--launch", str(launch),
                          "--node", "nope", "--model", str(model)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip() == (f"error: INVALID_ARGUMENT: {launch}: "
                                  "no model_runner node named 'nope'")
