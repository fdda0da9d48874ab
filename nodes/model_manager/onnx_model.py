"""The manager's use of the one ONNX reader (nodes.inference.onnx_model): what it accepts
into the repository and how it opens a stored model."""
from __future__ import annotations

import onnxruntime as ort

from edge.errors import Internal
from nodes.inference import onnx_model
from .config import ModelConfig
from .specs import TensorSpec


def inspect_model(data: bytes) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Reject bytes onnxruntime cannot load (or that name files) before they are stored."""
    contract = onnx_model.read_contract(data)
    onnx_model.open_session(data, intra_op_threads=1, inter_op_threads=1, optimize=False)
    return contract.inputs, contract.outputs


def open_session(data: bytes, config: ModelConfig) -> ort.InferenceSession:
    """A stored model was loaded once at upload: failing now is an Internal error."""
    return onnx_model.open_session(data, intra_op_threads=config.intra_op_threads,
                                   inter_op_threads=config.inter_op_threads,
                                   load_error=Internal)
