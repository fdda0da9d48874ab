"""The model_shadow node type: a candidate model judged against a live model_runner."""
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import tiny_onnx
from edge import Client
from edge.testing import call, input_event, run_node, timer_event
from messages import Image
from nodes.model_runner.node import ModelRunner
from nodes.model_runner.shadow import ModelShadow
from process_graph import collect

pytestmark = pytest.mark.timeout(90)
COMPARED = 5


def perturbed(model_path, folder):
    """The same classifier with its weights scaled by 1.5: every score moves."""
    model = onnx.load(str(model_path))
    for init in model.graph.initializer:
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(1.5),
                                              init.name))
    path = folder / "perturbed.onnx"
    onnx.save(model, str(path))
    return path


def test_a_shadow_agrees_with_its_own_model_and_reports_a_perturbed_one(graph, tmp_path):
    model = tiny_onnx.color_classifier(tmp_path)
    runner = {"postprocess": "raw", "size": [8, 8], "keep_aspect": False}
    graph.start([
        {"name": "camera", "type": "camera", "parameters": {"fps": 10.0},
         "outputs": {"image": "camera/image"}},
        {"name": "runner", "type": "model_runner", "parameters": {"model": str(model), **runner},
         "inputs": {"image": "camera/image"}, "outputs": {"tensors": "runner/out"}},
        {"name": "same", "type": "model_shadow", "parameters": {"model": str(model), **runner,
                                                                "stats_period_s": 0.5},
         "inputs": {"image": "camera/image", "reference": "runner/out"},
         "outputs": {"agreement": "same/agreement"}},
        {"name": "other", "type": "model_shadow", "service": graph.endpoint("other-svc"),
         "parameters": {"model": str(perturbed(model, tmp_path)), **runner, "stats_period_s": 0.5},
         "inputs": {"image": "camera/image", "reference": "runner/out"},
         "outputs": {"agreement": "other/agreement"}},
    ])
    probe = graph.probe({"same": "same/agreement", "other": "other/agreement"})
    latest = {}

    def enough(event):
        latest[event.name] = event.value.values
        return all(latest.get(n, {}).get("frames", 0) >= COMPARED for n in ("same", "other"))

    collect(probe, enough, timeout_s=60)
    same, other = latest["same"], latest["other"]
    assert same["mismatch_rate"] == 0.0 and same["max_abs_diff"] == 0.0 and same["errors"] == 0
    assert other["mismatch_rate"] > 0.5 and other["max_abs_diff"] > 0.01
    with Client(graph.endpoint("other-svc"), timeout_s=5, retries=1) as client:
        samples = client.call("disagreements")
    assert samples and samples[0]["reference"] == {"scores": [1, 4]}
    graph.assert_running()


def test_disagreements_are_served_in_process(tmp_path):
    """The `disagreements` method on edge.testing's double: no processes, no sockets."""
    model, runner = tiny_onnx.color_classifier(tmp_path), {"postprocess": "raw", "size": [8, 8]}
    frame = Image(np.full((16, 16, 3), (0, 0, 255), np.uint8), "bgr8", 3)
    live = run_node(ModelRunner, params={"model": str(model), **runner},
                    events=[input_event("image", frame, stamp_ns=1000)])
    [reference] = live.values("tensors")
    shadow = run_node(ModelShadow, params={"model": str(perturbed(model, tmp_path)), **runner},
                      events=[call("disagreements"), input_event("image", frame, stamp_ns=1000),
                              input_event("reference", reference, stamp_ns=1000),
                              timer_event("stats"), call("disagreements")])
    before, after = shadow.answers("disagreements")
    assert before.ok and before.body == []
    assert after.ok and after.body[0]["reference"] == {"scores": [1, 4]}
    assert shadow.values("agreement")[0].values["frames"] == 1
