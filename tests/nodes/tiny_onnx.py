"""Small ONNX models for model_runner tests, built with onnx.helper and written to a folder.

The colour classifier scores a frame by its mean blue, green and red: a solid red frame
is class 2 ("red") when channels arrive in BGR order and class 0 when they arrive as RGB,
so the test sees exactly what the preprocessing did.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
COLOR_LABELS = ["blue", "green", "red", "dark"]
# scores = [mean b, mean g, mean r, -(b + g + r)] after scaling to 0..1
COLOR_WEIGHTS = np.array([[1, 0, 0, -1], [0, 1, 0, -1], [0, 0, 1, -1]], np.float32)


def _save(path: Path, nodes, inputs, outputs, initializers=()) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _pool_classifier(x: str, channels: int) -> tuple[list, list]:
    weights = numpy_helper.from_array(np.resize(COLOR_WEIGHTS, (channels, 4)), "W")
    nodes = [helper.make_node("GlobalAveragePool", [x], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
             helper.make_node("MatMul", ["flat", "W"], ["scores"])]
    return nodes, [weights]


def color_classifier(folder: Path, size: int = 8) -> Path:
    """float32 [1, 3, size, size] -> scores [1, 4]."""
    nodes, inits = _pool_classifier("image", 3)
    return _save(folder / "color.onnx", nodes,
                 [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
                 [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 4])], inits)


def color_classifier_uint8_nhwc(folder: Path) -> Path:
    """uint8 [1, h, w, 3] with dynamic h, w -> scores [1, 4] on raw 0..255 means."""
    nodes, inits = _pool_classifier("nchw", 3)
    nodes = [helper.make_node("Cast", ["pixels"], ["float"], to=TensorProto.FLOAT),
             helper.make_node("Transpose", ["float"], ["nchw"], perm=[0, 3, 1, 2]), *nodes]
    return _save(folder / "color_u8.onnx", nodes,
                 [helper.make_tensor_value_info("pixels", TensorProto.UINT8, [1, "h", "w", 3])],
                 [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 4])], inits)


def mono_classifier(folder: Path) -> Path:
    """A model for 1-channel frames: cannot take a 3-channel camera."""
    nodes, inits = _pool_classifier("gray", 1)
    return _save(folder / "mono.onnx", nodes,
                 [helper.make_tensor_value_info("gray", TensorProto.FLOAT, [1, 1, 32, 32])],
                 [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 4])], inits)


def vector_model(folder: Path) -> Path:
    """[1, 10] -> [1, 10]: not an image model at all."""
    return _save(folder / "vector.onnx", [helper.make_node("Relu", ["v"], ["out"])],
                 [helper.make_tensor_value_info("v", TensorProto.FLOAT, [1, 10])],
                 [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 10])])


def two_input_model(folder: Path) -> Path:
    fp = TensorProto.FLOAT
    return _save(folder / "two_inputs.onnx", [helper.make_node("Add", ["a", "b"], ["sum"])],
                 [helper.make_tensor_value_info("a", fp, [1, 3, 8, 8]),
                  helper.make_tensor_value_info("b", fp, [1, 3, 8, 8])],
                 [helper.make_tensor_value_info("sum", fp, [1, 3, 8, 8])])


def fragile_model(folder: Path) -> Path:
    """Declares dynamic height and width but only runs on 8 x 8: fails at run time."""
    shape = numpy_helper.from_array(np.array([1, 192], np.int64), "shape")
    return _save(folder / "fragile.onnx",
                 [helper.make_node("Reshape", ["image", "shape"], ["flat"])],
                 [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])],
                 [helper.make_tensor_value_info("flat", TensorProto.FLOAT, [1, 192])], [shape])
