"""Which ONNX model a model_runner runs and what its graph says it expects.

A model is named by a file path or a bundled alias. Specs are read from the ONNX graph
(not from an onnxruntime session) so a launcher can check them cheaply before any process
starts. Fetching from the model manager is reserved in the parameters but not wired yet:
main has no model manager client.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import onnx
from onnx import helper

from edge.errors import ConfigError
from messages.tensors import Dim, TensorSpec
from nodes.inference.models import ModelError, resolve_model

UNNAMED_DIMS = ("", "?")
MAX_ERROR_CHARS = 200

# Parameter values that come with a bundled alias, used where the launch file leaves them unset.
PRESETS: dict[str, dict] = {
    "ppocr-det": {"postprocess": "text_boxes", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                  "limit_side_len": 960, "size_multiple": 32},
    "ppocr-rec": {"postprocess": "ctc_text", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
}
# The value that means "not set" for each preset-able parameter, and its generic default.
UNSET = {"postprocess": ("auto", "raw"), "mean": ([], [0.0, 0.0, 0.0]),
         "std": ([], [1.0, 1.0, 1.0]), "limit_side_len": (0, 0), "size_multiple": (0, 1)}


@dataclass(frozen=True)
class ModelFile:
    path: Path
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    metadata: dict[str, str] = field(default_factory=dict)


def effective_parameters(params: dict) -> dict:
    """Parameters with unset values taken from the alias preset, else the generic default."""
    preset = PRESETS.get(str(params.get("model")), {})
    values = dict(params)
    for key, (unset, default) in UNSET.items():
        if values.get(key, unset) == unset:
            values[key] = preset.get(key, default)
    return values


def locate_model(params: dict) -> Path:
    """The .onnx file for `model` (and `model_manager`), or a ConfigError naming what is wrong."""
    if params.get("model_manager"):
        raise ConfigError(f"model {params['model']!r} from model manager "
                          f"{params['model_manager']}: fetching from the model manager is not "
                          "wired yet; give a file path or a bundled alias", "UNIMPLEMENTED")
    try:
        return resolve_model(params["model"])
    except ModelError as exc:
        raise ConfigError(str(exc), exc.code) from None


def read_model(path: Path) -> ModelFile:
    """Input/output specs and metadata from the graph, without building a session."""
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf and onnx raise several unrelated types
        raise ConfigError(f"not an ONNX model: {path} ({_short(exc)})",
                          "INVALID_ARGUMENT") from None
    if not proto.HasField("graph") or not proto.graph.output:
        raise ConfigError(f"not an ONNX model: {path} (no graph outputs)", "INVALID_ARGUMENT")
    initializers = {init.name for init in proto.graph.initializer}
    try:
        inputs = [_spec(v) for v in proto.graph.input if v.name not in initializers]
        outputs = [_spec(v) for v in proto.graph.output]
    except ValueError as exc:
        raise ConfigError(f"model {path}: {exc}", "INVALID_ARGUMENT") from None
    return ModelFile(path, inputs, outputs, {p.key: p.value for p in proto.metadata_props})


def _spec(value: onnx.ValueInfoProto) -> TensorSpec:
    if value.type.WhichOneof("value") != "tensor_type":
        raise ValueError(f"tensor {value.name!r} is not a tensor "
                         f"({value.type.WhichOneof('value')})")
    tensor = value.type.tensor_type
    try:
        dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
    except Exception:
        raise ValueError(f"tensor {value.name!r} has unsupported element type "
                         f"{tensor.elem_type}") from None
    if not tensor.HasField("shape"):
        return TensorSpec(value.name, dtype, None)
    return TensorSpec(value.name, dtype, [_dim(d) for d in tensor.shape.dim])


def _dim(dim) -> Dim:
    kind = dim.WhichOneof("value")
    if kind == "dim_value" and dim.dim_value > 0:
        return Dim(size=int(dim.dim_value))
    name = dim.dim_param if kind == "dim_param" and dim.dim_param not in UNNAMED_DIMS else None
    return Dim(name=name, dynamic=True)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "..."
