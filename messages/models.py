"""What the model manager says about its models, and per-node statistics."""
from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Real

from messages.codec import DecodeError
from messages.schema import Schema, need, need_str
from messages.tensors import TensorSpec


@dataclass
class ModelMetadata(Schema):
    TYPE = "ModelMetadata"
    name: str = ""
    description: str = ""
    version: str = ""
    author: str = ""

    def validate(self) -> None:
        for key in ("name", "description", "version", "author"):
            need_str(getattr(self, key), f"metadata {key}")


@dataclass
class ModelInfo(Schema):
    TYPE = "ModelInfo"
    uid: str
    metadata: ModelMetadata
    input_specs: list = field(default_factory=list)
    output_specs: list = field(default_factory=list)
    loaded: bool = False

    def validate(self) -> None:
        need_str(self.uid, "uid")
        if isinstance(self.metadata, dict):
            self.metadata = ModelMetadata(**self.metadata)
        need(isinstance(self.metadata, ModelMetadata), "metadata must be ModelMetadata")
        self.input_specs = [s if isinstance(s, TensorSpec) else TensorSpec(**s) for s in self.input_specs]
        self.output_specs = [s if isinstance(s, TensorSpec) else TensorSpec(**s) for s in self.output_specs]
        need(isinstance(self.loaded, bool), "loaded must be a bool")

    @classmethod
    def _wire_fields(cls, body: dict) -> dict:
        if not isinstance(body.get("metadata"), dict):
            raise DecodeError("ModelInfo metadata must be a map")
        return body


@dataclass
class Stats(Schema):
    """Counters a node publishes about itself (fps, inference ms, drops, ...)."""

    TYPE = "Stats"
    source: str
    values: dict = field(default_factory=dict)

    def validate(self) -> None:
        need_str(self.source, "stats source")
        need(isinstance(self.values, dict), "stats values must be a map")
        for key, value in self.values.items():
            need_str(key, "stats key")
            need(isinstance(value, Real), f"stats value {key!r} must be a number")
