"""Model manager: stores ONNX models by content hash and serves inference on them.

This package is the transport-independent core; the ZeroMQ service wraps
``ModelManager`` and never waits on inference (see ``submit_forward``).
"""
from .config import ManagerConfig, ModelConfig
from .execution import ForwardResult
from .manager import ModelManager
from .specs import Dim, ModelInfo, ModelMetadata, TensorSpec

__all__ = ["Dim", "ForwardResult", "ManagerConfig", "ModelConfig", "ModelInfo",
           "ModelManager", "ModelMetadata", "TensorSpec"]
