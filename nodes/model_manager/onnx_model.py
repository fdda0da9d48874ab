"""What the manager needs from an ONNX file: proof it runs, its tensor specs, a session.

Specs come from the ONNX graph rather than from onnxruntime, because only the
graph keeps the author's symbolic dim names exactly as written.
"""
from __future__ import annotations

from collections.abc import Iterable

import onnx
import onnxruntime as ort
from onnx import helper

from edge.errors import Internal, InvalidArgument, ResourceExhausted
from messages import SchemaError
from .config import ModelConfig
from .specs import Dim, TensorSpec

MAX_ERROR_CHARS = 300
UNNAMED_DIMS = ("", "?")


def inspect_model(data: bytes) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Reject bytes onnxruntime cannot load before they ever reach the repository."""
    if not data:
        raise InvalidArgument("model data is empty")
    try:
        proto = onnx.load_model_from_string(bytes(data))
    except Exception as exc:  # protobuf raises several unrelated types
        raise InvalidArgument(f"model data is not an ONNX protobuf: {short_error(exc)}") from exc
    if not proto.HasField("graph") or not proto.graph.output:
        raise InvalidArgument("model data is not an ONNX model: it has no graph outputs")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        ort.InferenceSession(bytes(data), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise InvalidArgument(f"onnxruntime cannot load the model: {short_error(exc)}") from exc
    initializers = {init.name for init in proto.graph.initializer}
    inputs = [_spec(v) for v in proto.graph.input if v.name not in initializers]
    return inputs, [_spec(v) for v in proto.graph.output]


def open_session(data: bytes, config: ModelConfig) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = config.inter_op_threads
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except MemoryError as exc:
        raise ResourceExhausted("not enough memory to load the model") from exc
    except Exception as exc:
        raise Internal(f"onnxruntime failed to load a validated model: {short_error(exc)}") from exc


def batchable(inputs: Iterable[TensorSpec], outputs: Iterable[TensorSpec]) -> bool:
    """Rows can be stacked only if every tensor's first dim is free to grow."""
    return all(s.shape and s.shape[0].dynamic for s in [*inputs, *outputs])


def _spec(value: onnx.ValueInfoProto) -> TensorSpec:
    if value.type.WhichOneof("value") != "tensor_type":
        raise InvalidArgument(
            f"tensor {value.name!r}: only tensor inputs and outputs are supported, "
            f"got {value.type.WhichOneof('value')}")
    tensor = value.type.tensor_type
    try:
        dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
    except Exception as exc:
        raise InvalidArgument(
            f"tensor {value.name!r}: unsupported element type {tensor.elem_type}") from exc
    shape = [_dim(d) for d in tensor.shape.dim] if tensor.HasField("shape") else None
    try:
        return TensorSpec(value.name, dtype, shape)
    except SchemaError as exc:  # e.g. string tensors: nothing the wire can carry
        raise InvalidArgument(f"tensor {value.name!r}: {exc}") from exc


def _dim(dim: onnx.TensorShapeProto.Dimension) -> Dim:
    kind = dim.WhichOneof("value")
    if kind == "dim_value" and dim.dim_value >= 0:
        return Dim(size=int(dim.dim_value), name=None, dynamic=False)
    if kind == "dim_param" and dim.dim_param not in UNNAMED_DIMS:
        return Dim(size=None, name=dim.dim_param, dynamic=True)
    return Dim(size=None, name=None, dynamic=True)


def short_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "..."
