"""The one ONNX reader: a model's contract from its graph, sessions from bytes only."""
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from edge.errors import InvalidArgument
from messages import Dim
from nodes.inference.models import load_session
from nodes.inference.onnx_model import open_session, read_contract

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model_manager"))

import onnx_fixtures  # noqa: E402

pytestmark = pytest.mark.timeout(30)


def _relu(shape) -> bytes:
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    model.metadata_props.add(key="character", value="a\nb")
    return model.SerializeToString()


def test_dims_fixed_named_and_unnamed():
    contract = read_contract(_relu([0, "batch", None, 4]))
    assert contract.inputs[0].shape == [Dim(size=0), Dim(name="batch", dynamic=True),
                                        Dim(dynamic=True), Dim(size=4)]
    assert [s.name for s in contract.outputs] == ["y"]
    assert contract.metadata == {"character": "a\nb"}


def test_sessions_load_from_bytes_and_run():
    session = open_session(_relu(["n"]), intra_op_threads=1)
    out = session.run(None, {"x": np.array([-1.0, 2.0], np.float32)})[0]
    np.testing.assert_array_equal(out, [0.0, 2.0])


@pytest.mark.parametrize("location", ["../../../../etc/passwd", "notes.txt"])
def test_a_model_naming_a_file_gets_no_session(tmp_path, monkeypatch, location):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_bytes(b"x" * 64)
    data = onnx_fixtures.external_data_model(location)
    with pytest.raises(InvalidArgument, match="keeps its data in an external file"):
        open_session(data)
    path = tmp_path / "leak.onnx"
    path.write_bytes(data)
    with pytest.raises(InvalidArgument, match=f"^INVALID_ARGUMENT: {path}: tensor 'secret'"):
        load_session(path)
