"""Finding ONNX models on disk and opening onnxruntime sessions for them.

Bundled aliases point into the rapidocr-onnxruntime wheel, located with find_spec so the
package itself is never imported: its import pulls in extra dependencies and logging setup
we do not want in a node, and it is only needed for its data files.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

DEMO_INSTALL_HINT = "pip install 'edge-runtime[demo]'"


class ModelError(Exception):
    """A model cannot be found or loaded; `code` follows the reply error codes."""

    def __init__(self, message: str, code: str = "NOT_FOUND"):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BundledModel:
    package: str
    relative_path: str
    distribution: str


BUNDLED_MODELS: dict[str, BundledModel] = {
    "ppocr-det": BundledModel("rapidocr_onnxruntime", "models/ch_PP-OCRv4_det_infer.onnx",
                              "rapidocr-onnxruntime"),
    "ppocr-rec": BundledModel("rapidocr_onnxruntime", "models/ch_PP-OCRv4_rec_infer.onnx",
                              "rapidocr-onnxruntime"),
}


def resolve_model(model: str | Path) -> Path:
    """Turn an alias or a path into an existing .onnx file, or say exactly what is missing."""
    name = str(model)
    if name in BUNDLED_MODELS:
        return _bundled_path(name, BUNDLED_MODELS[name])
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise ModelError(f"model path is not a file: {path}", "INVALID_ARGUMENT")
    known = ", ".join(sorted(BUNDLED_MODELS))
    raise ModelError(f"model file not found: {path} (bundled aliases: {known})")


def _bundled_path(alias: str, bundled: BundledModel) -> Path:
    spec = importlib.util.find_spec(bundled.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model '{alias}' needs the {bundled.distribution} wheel: "
                         f"{DEMO_INSTALL_HINT}", "FAILED_PRECONDITION")
    path = Path(next(iter(spec.submodule_search_locations))) / bundled.relative_path
    if not path.is_file():
        raise ModelError(f"model '{alias}' is missing from the installed "
                         f"{bundled.distribution} wheel: {path}")
    return path


def open_session(model: str | Path, intra_op_threads: int = 0,
                 inter_op_threads: int = 0, spin_wait: bool = True) -> ort.InferenceSession:
    """Create the session once per node; 0 threads lets onnxruntime pick per core count.

    Idle onnxruntime threads spin for a while before sleeping; turn that off (spin_wait=False)
    when several model processes share few cores, or the spinning steals their time.
    """
    path = resolve_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    if not spin_wait:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several unrelated types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load model {path}: {first_line}", "INVALID_ARGUMENT") from exc
