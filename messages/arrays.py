"""The wire forms of an ndarray: its dtype string, and the two ExtTypes that carry it.

ExtType(EXT_NDARRAY, msgpack [buffer index, dtype, shape]) refers to a frame after the
header; ExtType(EXT_NDARRAY_INLINE, u8 n + msgpack [dtype, shape] (n bytes) + raw bytes)
carries a small array inside the header. Both decode to read-only arrays, checked
against the frames and the Limits; parsed references are cached (shapes repeat).
"""
from __future__ import annotations

import re
from typing import Any, Sequence

import msgpack
import numpy as np

from messages.limits import DecodeError, Limits, short

EXT_NDARRAY = 1
EXT_NDARRAY_INLINE = 2
MAX_EXT_BYTES = 1024  # an ndarray reference: [index, dtype, shape of <= max_ndim dims]

# Only plain numbers cross the wire: bool, signed/unsigned ints, floats, complex.
_DTYPE_RE = re.compile(r"[<>|](b1|i1|i2|i4|i8|u1|u2|u4|u8|f2|f4|f8|c8|c16)")


def frame_buffer(frame: Any) -> memoryview:
    """A memoryview on a received frame (zmq.Frame, bytes or any buffer)."""
    buffer = getattr(frame, "buffer", None)
    return buffer if buffer is not None else memoryview(frame)


def check_dtype(dtype_str: str) -> np.dtype:
    """Return the numpy dtype for a wire dtype string, or raise DecodeError."""
    dtype = _DTYPES.get(dtype_str) if isinstance(dtype_str, str) else None
    if dtype is not None:
        return dtype
    if not isinstance(dtype_str, str) or not _DTYPE_RE.fullmatch(dtype_str):
        raise DecodeError(f"dtype {short(dtype_str)} is not allowed (numeric dtypes only)")
    dtype = _DTYPES[dtype_str] = np.dtype(dtype_str)
    return dtype


_DTYPES: dict[str, np.dtype] = {}
_MAX_DIM = np.iinfo(np.intp).max


def wire_dtype(dtype: np.dtype) -> str:
    """The wire string of a dtype, or TypeError for anything that is not a plain number."""
    text = _WIRE_DTYPES.get(dtype)
    if text is not None:
        return text
    text = np.dtype(dtype).str
    if not _DTYPE_RE.fullmatch(text):
        raise TypeError(f"dtype {np.dtype(dtype)} cannot be sent (numeric dtypes only)")
    if isinstance(dtype, np.dtype):
        _WIRE_DTYPES[dtype] = text
    return text


_WIRE_DTYPES: dict[np.dtype, str] = {}  # only allowed dtypes: a handful of entries
CACHE_MAX = 1024  # entries per cache of packed or parsed array references: shapes repeat


def remember(cache: dict, key: Any, value: Any) -> Any:
    """`cache[key] = value`, emptying a full cache first (bounded whatever peers send)."""
    if len(cache) >= CACHE_MAX:
        cache.clear()
    cache[key] = value
    return value


def ndarray_from_ref(payload: bytes, frames: Sequence[Any], used: list,
                      limits: Limits) -> np.ndarray:
    # Hot path for every array received: a reference seen before is not parsed again.
    ref = _REFS.get(payload)
    if ref is None:
        ref = remember(_REFS, payload, _parse_ref(payload))
    index, dtype, shape, nbytes = ref
    if index >= len(frames):
        raise DecodeError(f"ndarray buffer index {index!r} out of range (have {len(frames)})")
    if used[index]:
        raise DecodeError(f"buffer frame {index} referenced twice")
    if len(shape) > limits.max_ndim:
        raise DecodeError(f"ndarray shape {short(list(shape))} is not a list of at most "
                          f"{limits.max_ndim} dims")
    view = frame_buffer(frames[index])
    if view.nbytes != nbytes:
        raise DecodeError(f"buffer frame {index} is {view.nbytes} bytes, "
                          f"shape {list(shape)} {dtype.str} needs {nbytes}")
    used[index] = True
    # A read-only view on the received frame: no copy, and nobody can write into it. (The
    # ndarray constructor with positional arguments: half the cost of frombuffer + reshape.)
    return np.ndarray(shape, dtype, view.toreadonly())


def inline_ndarray(payload: bytes, limits: Limits) -> np.ndarray:
    """An array carried in the header: u8 n, n bytes of msgpack [dtype, shape], the data."""
    size = payload[0] if payload else 0
    ref_bytes = payload[1:1 + size]
    ref = _INLINE_REFS.get(ref_bytes)
    if ref is None:
        if not payload or len(ref_bytes) != size:
            raise DecodeError("malformed inline ndarray: shorter than its reference")
        if ref_bytes[:1] != b"\x92":  # a fixarray of 2; [0, dtype, shape] is then parsed as usual
            raise DecodeError("malformed inline ndarray: reference must be msgpack [dtype, shape]")
        try:
            ref = _parse_ref(b"\x93\x00" + ref_bytes[1:])
        except DecodeError as exc:
            raise DecodeError(f"inline ndarray: {exc}") from None
        remember(_INLINE_REFS, ref_bytes, ref)
    _, dtype, shape, nbytes = ref
    if len(shape) > limits.max_ndim:
        raise DecodeError(f"ndarray shape {short(list(shape))} is not a list of at most "
                          f"{limits.max_ndim} dims")
    if len(payload) - 1 - size != nbytes:
        raise DecodeError(f"inline ndarray holds {len(payload) - 1 - size} bytes, "
                          f"shape {list(shape)} {dtype.str} needs {nbytes}")
    # bytes are immutable: the array is read-only, like a view on a received frame.
    return np.ndarray(shape, dtype, payload, 1 + size)


_INLINE_REFS: dict[bytes, tuple] = {}  # msgpack [dtype, shape] -> checked (0, dtype, shape, nbytes)
_REFS: dict[bytes, tuple] = {}  # payload -> checked (index, dtype, shape, nbytes)
_MAX_NDIM = 32  # what any Limits may allow; a shorter limit is checked per message


def _parse_ref(payload: bytes) -> tuple:
    """Parse and check an ndarray reference on its own (no frames, no per-message limits)."""
    try:
        index, dtype_str, shape = msgpack.unpackb(payload, ext_hook=_no_ext, timestamp=2)
    except Exception:
        raise DecodeError("malformed ndarray reference: must be msgpack [index, dtype, shape]"
                          ) from None
    if type(index) is not int or index < 0:
        raise DecodeError(f"ndarray buffer index {short(index)} out of range")
    dtype = _DTYPES.get(dtype_str) if type(dtype_str) is str else None
    if dtype is None:
        dtype = check_dtype(dtype_str)
    if type(shape) is not list or len(shape) > _MAX_NDIM:
        raise DecodeError(f"ndarray shape {short(shape)} is not a list of at most {_MAX_NDIM} dims")
    count = 1
    for dim in shape:
        if type(dim) is not int or not 0 <= dim <= _MAX_DIM:
            raise DecodeError(f"ndarray shape {short(shape)} has a non-integer or negative dim")
        count *= dim
    check_extent(shape, dtype)
    return index, dtype, tuple(shape), count * dtype.itemsize


def check_extent(shape: Sequence[int], dtype: np.dtype) -> None:
    """numpy refuses a shape whose extent (zero dims counted as one) overflows intp, even
    for an empty array; so does the decoder, with a DecodeError."""
    extent = dtype.itemsize
    for dim in shape:
        extent *= dim or 1
    if extent > _MAX_DIM:
        raise DecodeError(f"ndarray shape {short(list(shape))} is too large to index")


def _no_ext(code: int, payload: bytes) -> None:
    raise DecodeError("an ndarray reference cannot hold an ExtType")
