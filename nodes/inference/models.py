"""Finding ONNX models on disk (a path or a bundled alias) and opening sessions for them.

Bundled aliases point into the rapidocr-onnxruntime wheel, located with find_spec so the
package itself is never imported: its import pulls in extra dependencies and logging setup
we do not want in a node, and it is only needed for its data files.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from edge.errors import FailedPrecondition, InvalidArgument, NotFound
from nodes.inference.onnx_model import open_session

DEMO_INSTALL_HINT = "pip install 'edge-runtime[demo]'"


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
        raise InvalidArgument(f"model path is not a file: {path}")
    known = ", ".join(sorted(BUNDLED_MODELS))
    raise NotFound(f"model file not found: {path} (bundled aliases: {known})")


def _bundled_path(alias: str, bundled: BundledModel) -> Path:
    spec = importlib.util.find_spec(bundled.package)
    if spec is None or not spec.submodule_search_locations:
        raise FailedPrecondition(f"model '{alias}' needs the {bundled.distribution} wheel: "
                                 f"{DEMO_INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / bundled.relative_path
    if not path.is_file():
        raise NotFound(f"model '{alias}' is missing from the installed "
                       f"{bundled.distribution} wheel: {path}")
    return path


def read_model_file(model: str | Path) -> tuple[Path, bytes]:
    """The resolved path of an alias or path, and the file's bytes."""
    path = resolve_model(model)
    try:
        return path, path.read_bytes()
    except OSError as exc:
        raise NotFound(f"cannot read model {path}: {exc.strerror or exc}") from None


def load_session(model: str | Path, intra_op_threads: int = 0, inter_op_threads: int = 0,
                 spin_wait: bool = True) -> ort.InferenceSession:
    """A session for an alias or path, loaded from its bytes (see nodes.inference.onnx_model)."""
    path, data = read_model_file(model)
    return open_session(data, intra_op_threads=intra_op_threads,
                        inter_op_threads=inter_op_threads, spin_wait=spin_wait, where=str(path))
