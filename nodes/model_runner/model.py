"""Which ONNX model a model_runner runs and what its graph says it expects.

A model is named by a file path or a bundled alias. Its contract is read from the ONNX
graph by nodes.inference.onnx_model (not from an onnxruntime session) so a launcher can
check it cheaply before any process starts. With `model_manager` set, `model` is a uid or
a model name on that manager: the bytes are fetched, checked against the uid (sha256) and
cached under the runtime dir.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from edge.endpoints import runtime_dir
from edge.errors import ConfigError, EdgeError, ServiceTimeout
from messages.tensors import TensorSpec
from nodes.inference.models import read_model_file, resolve_model
from nodes.inference.onnx_model import open_session, read_contract, short_error
from nodes.model_manager.repository import hash_file, write_atomic

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
    data: bytes = field(repr=False)
    inputs: list[TensorSpec] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)
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
    except EdgeError as exc:
        raise ConfigError(exc.message, exc.code) from None


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
        raise ConfigError(f"{where}: {short_error(exc.message)}", exc.code) from None
    except Exception as exc:  # zmq rejects a malformed endpoint with its own error types
        raise ConfigError(f"{where}: {short_error(exc)}", "INVALID_ARGUMENT") from None
    if hashlib.sha256(data).hexdigest() != uid:
        raise ConfigError(f"{where}: downloaded bytes do not match uid {uid}", "DATA_LOSS")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
    return path


def read_model(path: Path) -> ModelFile:
    """The model's bytes and contract; a model that is not self-contained ONNX is refused."""
    try:
        path, data = read_model_file(path)
        contract = read_contract(data, where=str(path))
    except EdgeError as exc:
        raise ConfigError(exc.message, exc.code) from None
    return ModelFile(path, data, contract.inputs, contract.outputs, contract.metadata)


def model_session(model: ModelFile, threads: int, spin_wait: bool):
    """An onnxruntime session from the bytes read_model checked."""
    try:
        return open_session(model.data, intra_op_threads=threads, spin_wait=spin_wait,
                            where=str(model.path))
    except EdgeError as exc:
        raise ConfigError(exc.message, exc.code) from None
