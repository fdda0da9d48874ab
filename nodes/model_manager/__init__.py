"""Model manager: stores ONNX models by content hash and serves inference on them.

The core is transport-independent; service.py serves it over an edge Service and
never waits on inference (see ``submit_forward``).
"""
from .config import ManagerConfig, ModelConfig
from .execution import ForwardResult
from .manager import ModelManager
from .specs import Dim, ModelInfo, ModelMetadata, TensorSpec

__all__ = ["Dim", "ForwardResult", "ManagerConfig", "ModelConfig", "ModelInfo",
           "ModelManager", "ModelMetadata", "TensorSpec"]
