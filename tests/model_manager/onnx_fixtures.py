"""Real ONNX models for the model manager tests, built with onnx.helper.

Each builder returns the serialized model; weights come from a seeded RNG so
tests can recompute expected outputs with numpy.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8


def _model(nodes, inputs, outputs, initializers=(), name="fixture") -> bytes:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def add_matmul_weight() -> np.ndarray:
    return np.random.default_rng(5).standard_normal((3, 2)).astype(np.float32)


def add_matmul_model() -> bytes:
    """sum = a + b and prod = a @ W, with a dynamic 'batch' dim on everything."""
    fp = TensorProto.FLOAT
    return _model(
        [helper.make_node("Add", ["a", "b"], ["sum"]),
         helper.make_node("MatMul", ["a", "W"], ["prod"])],
        [helper.make_tensor_value_info("a", fp, ["batch", 3]),
         helper.make_tensor_value_info("b", fp, ["batch", 3])],
        [helper.make_tensor_value_info("sum", fp, ["batch", 3]),
         helper.make_tensor_value_info("prod", fp, ["batch", 2])],
        [numpy_helper.from_array(add_matmul_weight(), "W")], name="add_matmul")


def mixed_dtype_model() -> bytes:
    """float32 and int64 inputs with named dims 'batch' and 'seq'."""
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    one = numpy_helper.from_array(np.array(1, np.int64), "one")
    return _model(
        [helper.make_node("Mul", ["x", "two"], ["scaled"]),
         helper.make_node("Add", ["ids", "one"], ["next_ids"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("scaled", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("next_ids", TensorProto.INT64, ["batch", "seq"])],
        [two, one], name="mixed_dtype")


def fixed_shape_model() -> bytes:
    """No dynamic dims at all, so it can never be batched."""
    three = numpy_helper.from_array(np.array(3.0, np.float32), "three")
    return _model(
        [helper.make_node("Mul", ["x", "three"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [three], name="fixed_shape")


def unnamed_dims_model() -> bytes:
    """One dim declared with dim_param '?' and one with no value at all."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["?", 3, None])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["?", 3, None])
    return _model([helper.make_node("Relu", ["x"], ["y"])], [x], [y], name="unnamed_dims")


def chain_weights(width: int, depth: int) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    return [(rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
            for _ in range(depth)]


def matmul_chain_model(width: int = 1024, depth: int = 4) -> bytes:
    """Large weights, tiny activations: a run at batch 1 is mostly weight traffic,
    so running 16 rows at once costs little more than one."""
    nodes, inits, prev = [], [], "x"
    for i, weight in enumerate(chain_weights(width, depth)):
        inits.append(numpy_helper.from_array(weight, f"W{i}"))
        out = "y" if i == depth - 1 else f"h{i}"
        nodes.append(helper.make_node("MatMul", [prev, f"W{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Relu", [f"m{i}"], [out]))
        prev = out
    return _model(nodes,
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
                  inits, name="matmul_chain")


def matmul_chain_reference(x: np.ndarray, width: int = 1024, depth: int = 4) -> np.ndarray:
    for weight in chain_weights(width, depth):
        x = np.maximum(x @ weight, 0)
    return x


def ppocr_det_path() -> Path:
    """The PP-OCRv4 detector shipped in the rapidocr wheel, found without importing it."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    assert spec is not None and spec.submodule_search_locations, "rapidocr-onnxruntime missing"
    return Path(spec.submodule_search_locations[0]) / "models" / "ch_PP-OCRv4_det_infer.onnx"


def gather_table() -> np.ndarray:
    return np.arange(40, dtype=np.float32).reshape(10, 4)


def gather_model() -> bytes:
    """Row lookup: an index out of range fails inside onnxruntime, not in our checks."""
    return _model(
        [helper.make_node("Gather", ["table", "idx"], ["rows"], axis=0)],
        [helper.make_tensor_value_info("idx", TensorProto.INT64, ["batch"])],
        [helper.make_tensor_value_info("rows", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(gather_table(), "table")], name="gather")


# -- models that name files: each must be refused ------------------------------------------

LEAKED_BYTES = 16


def _external_tensor(name: str, location: str) -> onnx.TensorProto:
    """A uint8 tensor whose LEAKED_BYTES bytes live in the file at `location`."""
    tensor = TensorProto(name=name, data_type=TensorProto.UINT8, dims=[LEAKED_BYTES],
                         data_location=TensorProto.EXTERNAL)
    for key, value in (("location", location), ("offset", "0"), ("length", str(LEAKED_BYTES))):
        tensor.external_data.add(key=key, value=value)
    return tensor


def _leak_model(nodes, initializers=()) -> bytes:
    graph = helper.make_graph(nodes, "leak", [], [helper.make_tensor_value_info(
        "leak", TensorProto.UINT8, [LEAKED_BYTES])], initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION)
    return model.SerializeToString()   # no checker: it would look for the file


def external_data_model(location: str) -> bytes:
    """forward() returns the first bytes of the file at `location`, if a runtime reads it."""
    return _leak_model([helper.make_node("Identity", ["secret"], ["leak"])],
                       [_external_tensor("secret", location)])


def external_constant_model(location: str) -> bytes:
    """The same leak through a Constant node's tensor attribute."""
    return _leak_model([helper.make_node("Constant", [], ["leak"],
                                         value=_external_tensor("secret", location))])


def external_subgraph_model(location: str) -> bytes:
    """The same leak from an initializer inside an If branch."""
    branch = helper.make_graph([helper.make_node("Identity", ["secret"], ["out"])], "branch", [],
                               [helper.make_tensor_value_info("out", TensorProto.UINT8,
                                                              [LEAKED_BYTES])],
                               initializer=[_external_tensor("secret", location)])
    cond = numpy_helper.from_array(np.array(True), "cond")
    return _leak_model([helper.make_node("If", ["cond"], ["leak"], then_branch=branch,
                                         else_branch=branch)], [cond])


def ep_context_model(location: str) -> bytes:
    """An EPContext node: its ep_cache_context names a cache file when embed_mode is 0."""
    node = helper.make_node("EPContext", [], ["leak"], domain="com.microsoft", embed_mode=0,
                            ep_cache_context=location)
    return _leak_model([node])
