"""Tensor contracts: named, possibly dynamic dims; specs; named tensor maps."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from messages.codec import check_dtype, DecodeError
from messages.schema import Schema, SchemaError, need, need_array, need_str


@dataclass
class Dim(Schema):
    """One dimension: a fixed size, or dynamic (optionally named, like 'batch')."""

    TYPE = "Dim"
    size: Optional[int] = None
    name: Optional[str] = None
    dynamic: bool = False

    def validate(self) -> None:
        need(self.size is None or (type(self.size) is int and self.size >= 0),
             f"dim size must be a non-negative int or None, got {self.size!r}")
        need(self.name is None or isinstance(self.name, str), f"dim name must be a string, got {self.name!r}")
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
            np.dtype(self.dtype)
            check_dtype(np.dtype(self.dtype).str)
        except (TypeError, DecodeError):
            raise SchemaError(f"tensor {self.name!r} has unsupported dtype {self.dtype!r}") from None
        self.dtype = np.dtype(self.dtype).name
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
