"""Plain value types the model manager hands out, with the wire's field names.

The ``messages`` package will own matching schema classes; these stay plain
dataclasses so the core does not depend on the codec.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ._errors_shim import InvalidArgument

MAX_NAME_CHARS = 256
MAX_FIELD_CHARS = 4096


@dataclass(frozen=True)
class Dim:
    size: int | None
    name: str | None
    dynamic: bool

    def describe(self) -> str:
        if not self.dynamic:
            return str(self.size)
        return self.name or "?"


@dataclass(frozen=True)
class TensorSpec:
    """``shape`` is None when the graph does not declare a rank (outputs only, in practice)."""

    name: str
    dtype: str
    shape: list[Dim] | None

    def describe(self) -> str:
        if self.shape is None:
            return f"{self.dtype}[...]"
        return f"{self.dtype}[{', '.join(d.describe() for d in self.shape)}]"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TensorSpec:
        shape = raw["shape"]
        dims = None if shape is None else [Dim(**d) for d in shape]
        return cls(name=raw["name"], dtype=raw["dtype"], shape=dims)


@dataclass(frozen=True)
class ModelMetadata:
    name: str = ""
    description: str = ""
    version: str = ""
    author: str = ""

    @classmethod
    def from_user(cls, raw: ModelMetadata | Mapping[str, Any] | None) -> ModelMetadata:
        """Accept what a remote peer sent, rejecting anything we would not store verbatim."""
        if raw is None:
            return cls()
        if isinstance(raw, cls):
            raw = asdict(raw)
        if not isinstance(raw, Mapping):
            raise InvalidArgument(f"metadata must be a map, got {type(raw).__name__}")
        known = {f.name for f in fields(cls)}
        for key, value in raw.items():
            if key not in known:
                raise InvalidArgument(
                    f"metadata: unknown key {key!r}; allowed keys are {sorted(known)}",
                    {"key": str(key)})
            _check_field(key, value)
        return cls(**{k: v for k, v in raw.items() if v is not None})


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


@dataclass(frozen=True)
class ModelInfo:
    uid: str
    metadata: ModelMetadata
    input_specs: list[TensorSpec] = field(default_factory=list)
    output_specs: list[TensorSpec] = field(default_factory=list)
    loaded: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
