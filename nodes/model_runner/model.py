"""Which ONNX model a model_runner runs and what its graph says it expects.

A model is named by a file path or a bundled alias. Specs are read from the ONNX graph
(not from an onnxruntime session) so a launcher can check them cheaply before any process
starts. With `model_manager` set, `model` is a uid or a model name on that manager: the
bytes are fetched, checked against the uid (sha256) and cached under the runtime dir.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import onnx
from onnx import helper

from edge.endpoints import runtime_dir
from edge.errors import ConfigError, EdgeError, ServiceTimeout
from messages.tensors import Dim, TensorSpec
from nodes.inference.models import ModelError, resolve_model
from nodes.model_manager.repository import hash_file, write_atomic

UNNAMED_DIMS = ("", "?")
MAX_ERROR_CHARS = 200
FETCH_TIMEOUT_S = 5.0     # quick calls; the download itself gets DOWNLOAD_TIMEOUT_S
DOWNLOAD_TIMEOUT_S = 120.0

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
        return fetch_model(str(params["model"]), params["model_manager"])
    try:
        return resolve_model(params["model"])
    except ModelError as exc:
        raise ConfigError(str(exc), exc.code) from None


def fetch_model(model: str, endpoint: str, timeout_s: float = FETCH_TIMEOUT_S) -> Path:
    """The cached .onnx file of `model` (uid or name) from the manager at `endpoint`."""
    from nodes.model_manager.client import ModelManagerClient  # only nodes that fetch need it
    where = f"model {model!r} from model manager {endpoint}"
    try:
        with ModelManagerClient(endpoint, timeout_s=timeout_s, admin_timeout_s=DOWNLOAD_TIMEOUT_S,
                                retries=0) as client:
            uid = client.resolve_uid(model)
            path = runtime_dir() / "models" / f"{uid}.onnx"
            if path.exists() and hash_file(path) == uid:
                return path
            data = client.download_model(uid)
    except ServiceTimeout:
        raise ConfigError(f"{where}: no answer (is the model manager running?)",
                          "UNAVAILABLE") from None
    except EdgeError as exc:
        raise ConfigError(f"{where}: {_short(exc.message)}", exc.code) from None
    except Exception as exc:  # zmq rejects a malformed endpoint with its own error types
        raise ConfigError(f"{where}: {_short(exc)}", "INVALID_ARGUMENT") from None
    if hashlib.sha256(data).hexdigest() != uid:
        raise ConfigError(f"{where}: downloaded bytes do not match uid {uid}", "DATA_LOSS")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
    return path


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
