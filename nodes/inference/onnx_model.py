"""The one ONNX model reader: a model's contract (tensor specs, metadata) and its session.

The model_runner node and the model manager both read models here, from bytes. A model
must be self-contained: a tensor whose data lives in another file (external data) or a
node that names a file (an EPContext cache) is refused with InvalidArgument, so no model
can make a process read a file; sessions load from bytes with onnxruntime's external-data
folder pointed at a path that does not exist, so nothing resolves against the working
directory either.

Specs come from the ONNX graph rather than from onnxruntime, because only the graph keeps
the author's symbolic dim names exactly as written. A dim_value is a fixed size (0
included, as onnxruntime reads it); a dim_param or nothing is dynamic.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import onnx
import onnxruntime as ort
from onnx import helper

from edge.errors import EdgeError, InvalidArgument, ResourceExhausted
from messages import SchemaError
from messages.tensors import Dim, TensorSpec

UNNAMED_DIMS = ("", "?")
MAX_ERROR_CHARS = 300
FILE_NAMING_OPS = ("EPContext",)  # ep_cache_context may be a path to a cache file
NO_EXTERNAL_DATA_DIR = "/nonexistent/edge-models-are-self-contained"


@dataclass(frozen=True)
class ModelContract:
    """What a model takes and gives: its graph inputs (initializers excluded) and outputs."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    metadata: dict[str, str] = field(default_factory=dict)


def parse_model(data: bytes, where: str = "model data") -> onnx.ModelProto:
    """The model's protobuf, once it is known to be a self-contained ONNX graph."""
    if not data:
        raise InvalidArgument(f"{where} is empty: not an ONNX model")
    try:
        proto = onnx.load_model_from_string(bytes(data))
    except Exception as exc:  # protobuf raises several unrelated types
        raise InvalidArgument(f"{where} is not an ONNX model: {short_error(exc)}") from None
    if not proto.HasField("graph") or not proto.graph.output:
        raise InvalidArgument(f"{where} is not an ONNX model: it has no graph outputs")
    check_self_contained(proto, where)
    return proto


def check_self_contained(proto: onnx.ModelProto, where: str = "model data") -> None:
    """Refuse a model that refers to any file: external tensor data or file-naming nodes."""
    for tensor in _tensors(proto):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            location = {e.key: e.value for e in tensor.external_data}.get("location", "")
            raise InvalidArgument(
                f"{where}: tensor {tensor.name!r} keeps its data in an external file "
                f"({location!r}); models must be self-contained (onnx.save with "
                "save_as_external_data=False)", {"tensor": tensor.name, "location": location})
    for node in _nodes(proto):
        if node.op_type in FILE_NAMING_OPS:
            raise InvalidArgument(f"{where}: node {node.name!r} ({node.op_type}) refers to a "
                                  "cache file; models must be self-contained",
                                  {"node": node.name})


def read_contract(data: bytes, where: str = "model data") -> ModelContract:
    """Input/output specs and metadata from the graph, without building a session."""
    proto = parse_model(data, where)
    initializers = {init.name for init in proto.graph.initializer}
    inputs = [_spec(v, where) for v in proto.graph.input if v.name not in initializers]
    outputs = [_spec(v, where) for v in proto.graph.output]
    return ModelContract(inputs, outputs, {p.key: p.value for p in proto.metadata_props})


def open_session(data: bytes, *, intra_op_threads: int = 0, inter_op_threads: int = 0,
                 spin_wait: bool = True, optimize: bool = True, where: str = "model data",
                 load_error: type[EdgeError] = InvalidArgument) -> ort.InferenceSession:
    """A CPU session from the model's bytes; 0 threads lets onnxruntime pick per core.

    Idle onnxruntime threads spin for a while before sleeping; turn that off (spin_wait=False)
    when several model processes share few cores. An onnxruntime failure raises `load_error`.
    """
    parse_model(data, where)
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.log_severity_level = 3
    options.add_session_config_entry("session.model_external_initializers_file_folder_path",
                                     NO_EXTERNAL_DATA_DIR)
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if not spin_wait:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(bytes(data), options, providers=["CPUExecutionProvider"])
    except MemoryError as exc:
        raise ResourceExhausted(f"not enough memory to load {where}") from exc
    except Exception as exc:  # onnxruntime raises several unrelated types
        raise load_error(f"onnxruntime cannot load {where}: {short_error(exc)}") from exc


def batchable(inputs: Iterable[TensorSpec], outputs: Iterable[TensorSpec]) -> bool:
    """Rows can be stacked only if every tensor's first dim is free to grow."""
    return all(s.shape and s.shape[0].dynamic for s in [*inputs, *outputs])


def short_error(exc: BaseException) -> str:
    """One line of at most MAX_ERROR_CHARS: onnxruntime and protobuf errors run long."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "..."


def _spec(value: onnx.ValueInfoProto, where: str) -> TensorSpec:
    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        raise InvalidArgument(f"{where}: tensor {value.name!r}: only tensor inputs and outputs "
                              f"are supported, got {kind}")
    tensor = value.type.tensor_type
    try:
        dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
    except Exception:
        raise InvalidArgument(f"{where}: tensor {value.name!r}: unsupported element type "
                              f"{tensor.elem_type}") from None
    try:
        shape = [_dim(d) for d in tensor.shape.dim] if tensor.HasField("shape") else None
        return TensorSpec(value.name, dtype, shape)
    except SchemaError as exc:  # string tensors, names that are not UTF-8: nothing we carry
        raise InvalidArgument(f"{where}: tensor {value.name!r}: {exc}") from None


def _dim(dim: onnx.TensorShapeProto.Dimension) -> Dim:
    kind = dim.WhichOneof("value")
    if kind == "dim_value" and dim.dim_value >= 0:
        return Dim(size=int(dim.dim_value))
    name = dim.dim_param if kind == "dim_param" and dim.dim_param not in UNNAMED_DIMS else None
    return Dim(name=name, dynamic=True)


def _graphs(proto: onnx.ModelProto) -> Iterator[onnx.GraphProto]:
    """Every graph in the model: the main one, subgraphs of If/Loop/Scan, training graphs."""
    stack = [proto.graph, *(g for info in proto.training_info
                            for g in (info.initialization, info.algorithm))]
    stack += _subgraphs(node for function in proto.functions for node in function.node)
    while stack:
        graph = stack.pop()
        yield graph
        stack += _subgraphs(graph.node)


def _subgraphs(nodes: Iterable[onnx.NodeProto]) -> list[onnx.GraphProto]:
    return [graph for node in nodes for attr in node.attribute
            for graph in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)]


def _nodes(proto: onnx.ModelProto) -> Iterator[onnx.NodeProto]:
    yield from (node for function in proto.functions for node in function.node)
    for graph in _graphs(proto):
        yield from graph.node


def _tensors(proto: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    for graph in _graphs(proto):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield from (sparse.values, sparse.indices)
    for node in _nodes(proto):
        for attr in node.attribute:
            yield from ([attr.t] if attr.HasField("t") else [])
            yield from attr.tensors
            for sparse in ([attr.sparse_tensor] if attr.HasField("sparse_tensor") else []) \
                    + list(attr.sparse_tensors):
                yield from (sparse.values, sparse.indices)
