"""The manager's view of the shared model schemas: strict metadata intake, spec text.

The value types themselves (Dim, TensorSpec, ModelMetadata, ModelInfo) are the
``messages`` schemas, so what the core hands out is what crosses the wire.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from edge.errors import InvalidArgument
from messages import Dim, ModelInfo, ModelMetadata, TensorSpec

__all__ = ["Dim", "ModelInfo", "ModelMetadata", "TensorSpec", "describe", "metadata_from_user"]

MAX_NAME_CHARS = 256
MAX_FIELD_CHARS = 4096


def describe(spec: TensorSpec) -> str:
    """``float32[batch, 3]``; ``[...]`` when the graph declares no rank."""
    if spec.shape is None:
        return f"{spec.dtype}[...]"
    return f"{spec.dtype}{spec.shape_text()}"


def metadata_from_user(raw: ModelMetadata | Mapping[str, Any] | None) -> ModelMetadata:
    """Accept what a remote peer sent, rejecting anything we would not store verbatim."""
    if raw is None:
        return ModelMetadata()
    if isinstance(raw, ModelMetadata):
        raw = raw.to_wire()
    if not isinstance(raw, Mapping):
        raise InvalidArgument(f"metadata must be a map, got {type(raw).__name__}")
    known = {f.name for f in fields(ModelMetadata)}
    for key, value in raw.items():
        if key not in known:
            raise InvalidArgument(
                f"metadata: unknown key {key!r}; allowed keys are {sorted(known)}",
                {"key": str(key)})
        _check_field(key, value)
    return ModelMetadata(**{k: v for k, v in raw.items() if v is not None})


def _check_field(key: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidArgument(
            f"metadata.{key} must be a string, got {type(value).__name__}", {"key": key})
    limit = MAX_NAME_CHARS if key == "name" else MAX_FIELD_CHARS
    if len(value) > limit:
        raise InvalidArgument(
            f"metadata.{key} is {len(value)} characters long; the limit is {limit}",
            {"key": key})
    if key == "name" and not value.isprintable():
        raise InvalidArgument(
            f"metadata.name must be printable text, got {value!r}", {"key": key})
