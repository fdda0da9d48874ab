"""`edge check` runs the node types' own checks: a model that cannot fit its producer,
or a model file that is not there, is reported before anything starts."""
import subprocess
import sys
from pathlib import Path

import pytest

from tiny_onnx import mono_classifier

pytestmark = pytest.mark.timeout(60)


def check(tmp_path: Path, model: str):
    launch = tmp_path / "graph.yaml"
    launch.write_text(f"""\
name: checks
nodes:
  - name: camera
    type: camera
    parameters: {{source: pattern, fps: 5}}
    outputs: {{image: camera/image}}
  - name: classifier
    type: model_runner
    parameters: {{model: {model}, postprocess: softmax_topk}}
    inputs: {{image: camera/image}}
    outputs: {{classes: camera/classes}}
""")
    return subprocess.run([sys.executable, "-c", "from edge.cli import main; main()", "check",
                           str(launch)], capture_output=True, text=True, timeout=50)


def test_model_whose_input_does_not_fit_its_producer(tmp_path):
    result = check(tmp_path, str(mono_classifier(tmp_path)))
    assert result.returncode != 0
    assert ("graph.yaml:10: node 'classifier': inputs: model input 'gray' float32[1, 1, 32, 32]: "
            "expects 1 channel(s), frames have 3") in result.stderr


def test_model_file_that_is_missing(tmp_path):
    result = check(tmp_path, str(tmp_path / "nowhere.onnx"))
    assert result.returncode != 0
    assert f"model file not found: {tmp_path}/nowhere.onnx" in result.stdout + result.stderr
