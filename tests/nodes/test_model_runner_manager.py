"""model_runner with `model_manager`: the model is fetched by name from a real `edge model
serve` process, cached under the runtime dir, and run like a file."""
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model_manager"))

import tiny_onnx  # noqa: E402
from edge.run import EXIT_CONFIG  # noqa: E402
from nodes.model_manager.client import ModelManagerClient  # noqa: E402
from process_graph import collect  # noqa: E402
from server_process import ServerProcess  # noqa: E402

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def manager(graph, tmp_path):
    """A model manager holding the tiny color classifier under the name `colors`."""
    server = ServerProcess(tmp_path / "repo", f"ipc://{graph.dir}/mm.sock",
                           tmp_path / "mm.log")
    try:
        server.start()
        data = tiny_onnx.color_classifier(tmp_path).read_bytes()
        with ModelManagerClient(server.endpoint, timeout_s=10.0) as client:
            uid = client.upload_model(data, {"name": "colors"})
        assert uid == hashlib.sha256(data).hexdigest()
        yield server, uid
    finally:
        server.stop()


def test_runs_a_model_fetched_by_name(graph, tmp_path, manager):
    server, uid = manager
    frames = tmp_path / "frames"
    frames.mkdir()
    image = np.zeros((120, 160, 3), np.uint8)
    image[:] = (0, 0, 255)
    cv2.imwrite(str(frames / "red.png"), image)
    graph.start([
        {"name": "camera", "type": "camera",
         "parameters": {"source": str(frames), "loop": True, "fps": 20.0},
         "outputs": {"image": "camera/image"}},
        {"name": "runner", "type": "model_runner",
         "parameters": {"model": "colors", "model_manager": server.endpoint,
                        "postprocess": "softmax_topk", "top_k": 2,
                        "labels": tiny_onnx.COLOR_LABELS},
         "inputs": {"image": "camera/image"}, "outputs": {"classes": "runner/out"}},
    ])
    probe = graph.probe({"out": "runner/out"})
    found = []
    collect(probe, lambda e: e.name == "out" and not found.append(e), 60)
    result = found[0].value
    assert type(result).__name__ == "Classification"
    assert result.labels[0] == "red" and len(result.class_ids) == 2
    cached = graph.dir / "models" / f"{uid}.onnx"
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == uid


def test_an_unknown_model_name_exits_78_with_one_line(graph, manager):
    server, _ = manager
    graph.start_node({"name": "runner", "type": "model_runner",
                      "parameters": {"model": "nope", "model_manager": server.endpoint},
                      "inputs": {"image": {"topic": "camera/image",
                                           "endpoint": f"ipc://{graph.dir}/camera.sock"}}})
    assert graph.wait("runner", timeout_s=30) == EXIT_CONFIG
    log = graph.log("runner")
    assert log.count("\n") == 1, log
    assert log.startswith(f"node 'runner': model 'nope' from model manager {server.endpoint}: "
                          "no model with uid or name 'nope'")
    assert "known names: colors" in log
