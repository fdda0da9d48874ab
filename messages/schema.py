"""Base of the typed message schemas: validation on construction and on decode."""
from __future__ import annotations

from dataclasses import fields
from typing import Any, ClassVar

import numpy as np

from messages.codec import DecodeError


class SchemaError(ValueError):
    """A typed message was built with a field that breaks its contract."""


SCHEMAS: dict[str, type["Schema"]] = {}


class Schema:
    """A dataclass that checks itself; its wire form is a plain map of its fields.

    Subclasses are dataclasses with a `TYPE` name (the header's `type`) and a
    `validate()` that raises SchemaError; nested schemas convert themselves.
    """

    TYPE: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs):
        """Register under TYPE; a second class claiming a taken TYPE is a TypeError."""
        super().__init_subclass__(**kwargs)
        if not cls.TYPE:
            return
        taken = SCHEMAS.get(cls.TYPE)
        if taken is not None and _where(taken) != _where(cls):  # the same class re-imported is fine
            raise TypeError(f"message type {cls.TYPE!r} of {_where(cls)} is already registered "
                            f"by {_where(taken)}; choose another TYPE")
        SCHEMAS[cls.TYPE] = cls

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise SchemaError when a field is wrong."""

    def to_wire(self) -> dict[str, Any]:
        return {f.name: _to_wire(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_wire(cls, body: Any) -> "Schema":
        if not isinstance(body, dict):
            raise DecodeError(f"{cls.TYPE} body must be a map, got {type(body).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = set(body) - names
        if unknown:
            raise DecodeError(f"{cls.TYPE} has unknown field(s) {sorted(unknown)}")
        try:
            return cls(**cls._wire_fields(body))
        except (SchemaError, TypeError, ValueError) as exc:
            raise DecodeError(f"invalid {cls.TYPE}: {exc}") from None

    @classmethod
    def _wire_fields(cls, body: dict) -> dict:
        """Turn nested wire maps back into schema objects; override where needed."""
        return body


def _where(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _to_wire(value: Any) -> Any:
    if isinstance(value, Schema):
        return value.to_wire()
    if isinstance(value, list):
        return [_to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    return value


def schema_to_wire(obj: Any) -> Any:
    """Encoder hook: a schema object nested in any value becomes its map."""
    return obj.to_wire() if isinstance(obj, Schema) else None


def decode_typed(type_name: str, body: Any) -> Any:
    """The schema object for a typed body, or the body as is for untyped values."""
    if not type_name:
        return body
    schema = SCHEMAS.get(type_name)
    if schema is None:
        raise DecodeError(f"unknown message type {type_name!r}")
    return schema.from_wire(body)


def need(condition: bool, message: str) -> None:
    if not condition:
        raise SchemaError(message)


def need_array(value: Any, name: str, *, dtype: str | None = None, ndim: int | None = None,
               kinds: str = "biufc") -> np.ndarray:
    """Check that `value` is an ndarray of the given dtype/rank; name it in the error."""
    need(isinstance(value, np.ndarray), f"{name} must be an ndarray, got {type(value).__name__}")
    if dtype is not None:
        need(value.dtype == np.dtype(dtype), f"{name} must be {dtype}, got {value.dtype}")
    need(value.dtype.kind in kinds, f"{name} has dtype {value.dtype}, expected kind {kinds!r}")
    if ndim is not None:
        need(value.ndim == ndim, f"{name} must have {ndim} dims, got shape {value.shape}")
    return value


def need_str(value: Any, name: str) -> str:
    need(isinstance(value, str), f"{name} must be a string, got {type(value).__name__}")
    return value
