"""Tensor contracts: named, possibly dynamic dims; specs; named tensor maps."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from messages.codec import DecodeError, short
from messages.schema import Schema, SchemaError, need, need_array, need_str

# What a TensorSpec dtype may be: numpy's name of a numeric dtype ("float32") or its wire
# string ("<f4"). Looked up, never parsed: numpy's dtype parser accepts far more than numbers.
_NUMERIC = [np.dtype(n) for n in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                                  "uint32", "uint64", "float16", "float32", "float64",
                                  "complex64", "complex128")]
SPEC_DTYPES = {text: d.name for d in _NUMERIC
               for text in (d.name, d.str, d.newbyteorder(">").str, d.newbyteorder("<").str)}


def spec_dtype_name(dtype) -> str:
    """The numpy name for a spec dtype given as a name, a wire string, a dtype or a scalar type."""
    if isinstance(dtype, (np.dtype, type)) and not isinstance(dtype, str):
        try:
            dtype = np.dtype(dtype).str
        except TypeError:
            dtype = None
    name = SPEC_DTYPES.get(dtype) if isinstance(dtype, str) else None
    if name is None:
        raise SchemaError(f"unsupported dtype {short(dtype)} (numeric dtypes only)")
    return name


@dataclass
class Dim(Schema):
    """One dimension: a fixed size, or dynamic (optionally named, like 'batch')."""

    TYPE = "Dim"
    size: Optional[int] = None
    name: Optional[str] = None
    dynamic: bool = False

    def validate(self) -> None:
        need(self.size is None or (type(self.size) is int and self.size >= 0),
             f"dim size must be a non-negative int or None, got {short(self.size)}")
        need(self.name is None or isinstance(self.name, str),
             f"dim name must be a string, got {short(self.name)}")
        need(isinstance(self.dynamic, bool), "dim dynamic must be a bool")
        need(self.dynamic or self.size is not None, "a fixed dim needs a size")

    def __str__(self) -> str:
        if not self.dynamic:
            return str(self.size)
        return self.name or "?"


@dataclass
class TensorSpec(Schema):
    """Name, dtype and shape a tensor must have; `check` names what is wrong."""

    TYPE = "TensorSpec"
    name: str
    dtype: str
    shape: Optional[list] = field(default_factory=list)  # None: the rank is unknown

    def validate(self) -> None:
        need_str(self.name, "tensor name")
        try:
            self.dtype = spec_dtype_name(self.dtype)
        except SchemaError as exc:
            raise SchemaError(f"tensor {short(self.name)}: {exc}") from None
        if self.shape is not None:
            need(isinstance(self.shape, list), f"tensor {self.name!r} shape must be a list or None")
            self.shape = [d if isinstance(d, Dim) else Dim(**d) for d in self.shape]

    def check(self, array: np.ndarray) -> Optional[str]:
        """Return why `array` does not fit this spec, or None when it does."""
        if not isinstance(array, np.ndarray):
            return f"input {self.name!r}: expected ndarray, got {type(array).__name__}"
        if array.dtype != np.dtype(self.dtype):
            return f"input {self.name!r}: expected dtype {self.dtype}, got {array.dtype.name}"
        if self.shape is None:
            return None
        if array.ndim != len(self.shape):
            return (f"input {self.name!r}: expected rank {len(self.shape)} "
                    f"{self.shape_text()}, got shape {list(array.shape)}")
        for axis, (dim, size) in enumerate(zip(self.shape, array.shape)):
            if not dim.dynamic and dim.size != size:
                return (f"input {self.name!r}: dim {axis} must be {dim.size} "
                        f"{self.shape_text()}, got shape {list(array.shape)}")
        return None

    def shape_text(self) -> str:
        if self.shape is None:
            return "[unknown rank]"
        return "[" + ", ".join(str(d) for d in self.shape) + "]"

    @classmethod
    def _wire_fields(cls, body: dict) -> dict:
        shape = body.get("shape", [])
        if shape is not None and not isinstance(shape, list) or not all(isinstance(d, dict) for d in shape):
            raise DecodeError("TensorSpec shape must be a list of Dim maps")
        return body


@dataclass
class TensorMap(Schema):
    """Named tensors, e.g. a model's inputs or outputs."""

    TYPE = "TensorMap"
    tensors: dict = field(default_factory=dict)

    def validate(self) -> None:
        need(isinstance(self.tensors, dict), "tensors must be a map of name to ndarray")
        for name, array in self.tensors.items():
            need_str(name, "tensor name")
            need_array(array, f"tensor {name!r}")
