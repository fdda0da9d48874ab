"""Tensors as the gRPC clients send them, to numpy and back.

Triton's raw contents are little-endian C-order bytes of a named datatype;
pykos's are flat float32 lists plus a shape, converted to the dtype the model
declares (int64 above 2**24 does not survive float32: pykos's format, not ours).
"""
from __future__ import annotations

import math

import numpy as np

from edge.errors import InvalidArgument

TRITON_TO_NUMPY = {
    "BOOL": np.dtype("?"), "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"), "UINT64": np.dtype("<u8"), "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"), "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
}
NUMPY_TO_TRITON = {dtype.name: name for name, dtype in TRITON_TO_NUMPY.items()}
# InferTensorContents field per datatype, for clients that send typed lists, not raw bytes.
CONTENTS_FIELD = {"BOOL": "bool_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
                  "UINT32": "uint_contents", "UINT64": "uint64_contents",
                  "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
                  "INT64": "int64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents"}


def triton_datatype(numpy_name: str) -> str:
    return NUMPY_TO_TRITON.get(numpy_name, "BYTES")


def numpy_dtype(name: str, datatype: str) -> np.dtype:
    dtype = TRITON_TO_NUMPY.get(datatype)
    if dtype is None:
        why = "the model manager serves numeric tensors only" if datatype == "BYTES" else (
            f"known datatypes are {', '.join(TRITON_TO_NUMPY)}")
        raise InvalidArgument(f"input {name!r}: datatype {datatype!r} is not supported: {why}",
                              {"input": name})
    return dtype


MAX_DIMS_PRODUCT = 1 << 58  # of 16-byte items still fits intp, which numpy asks even of empty arrays


def shape_of(name: str, dims) -> tuple[int, ...]:
    """Dims a numpy array can have (even with no element), as Python ints: a count taken
    in int64 would wrap and let a lying shape match a short buffer."""
    shape = tuple(int(d) for d in dims)
    if any(d < 0 for d in shape):
        raise InvalidArgument(f"input {name!r}: negative dim in shape {list(shape)}",
                              {"input": name})
    if math.prod(d for d in shape if d) > MAX_DIMS_PRODUCT:
        raise InvalidArgument(f"input {name!r}: shape {list(shape)} is larger than any array",
                              {"input": name})
    return shape


def from_raw(name: str, datatype: str, dims, raw: bytes) -> np.ndarray:
    dtype, shape = numpy_dtype(name, datatype), shape_of(name, dims)
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise InvalidArgument(f"input {name!r}: {len(raw)} bytes of raw contents for "
                              f"{datatype} {list(shape)}, expected {expected}", {"input": name})
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def from_contents(name: str, datatype: str, dims, contents) -> np.ndarray:
    dtype, shape = numpy_dtype(name, datatype), shape_of(name, dims)
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        raise InvalidArgument(f"input {name!r}: {datatype} must come as raw contents",
                              {"input": name})
    values = np.asarray(getattr(contents, field), dtype=dtype)
    if values.size != math.prod(shape):
        raise InvalidArgument(f"input {name!r}: {values.size} values for shape {list(shape)}",
                              {"input": name})
    return values.reshape(shape)


def to_raw(array: np.ndarray) -> bytes:
    little = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    return np.ascontiguousarray(array, dtype=little).tobytes()


def from_float_list(name: str, values, dims, dtype_name: str) -> np.ndarray:
    shape = shape_of(name, dims)
    if len(values) != math.prod(shape):
        raise InvalidArgument(f"input {name!r}: {len(values)} values for shape {list(shape)}",
                              {"input": name})
    return np.asarray(values, dtype=np.float32).astype(dtype_name, copy=False).reshape(shape)
