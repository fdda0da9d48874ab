"""msgpack header + out-of-band ndarray frames.

A value is packed into one msgpack document. Every ndarray inside it becomes an
ExtType(EXT_NDARRAY, msgpack([buffer_index, dtype_str, shape])) that points at a
separate frame holding the raw bytes, so large tensors are never copied into
msgpack and decode to read-only views on the received frames.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import msgpack
import numpy as np

PROTOCOL_VERSION = 1
EXT_NDARRAY = 1

# Only plain numbers cross the wire: bool, signed/unsigned ints, floats, complex.
_DTYPE_RE = re.compile(r"^[<>|](b1|i1|i2|i4|i8|u1|u2|u4|u8|f2|f4|f8|c8|c16)$")


class DecodeError(ValueError):
    """A peer sent something this side will not decode; the message says what."""


@dataclass(frozen=True)
class Limits:
    """What a decoder accepts from a peer it does not trust."""

    max_header_bytes: int = 16 << 20
    max_total_bytes: int = 4 << 30
    max_buffers: int = 4096
    max_ndim: int = 32


DEFAULT_LIMITS = Limits()


def check_dtype(dtype_str: str) -> np.dtype:
    """Return the numpy dtype for a wire dtype string, or raise DecodeError."""
    dtype = _DTYPES.get(dtype_str) if isinstance(dtype_str, str) else None
    if dtype is not None:
        return dtype
    if not isinstance(dtype_str, str) or not _DTYPE_RE.match(dtype_str):
        raise DecodeError(f"dtype {dtype_str!r} is not allowed (numeric dtypes only)")
    dtype = _DTYPES[dtype_str] = np.dtype(dtype_str)
    return dtype


_DTYPES: dict[str, np.dtype] = {}


def wire_dtype(dtype: np.dtype) -> str:
    """The wire string of a dtype, or TypeError for anything that is not a plain number."""
    text = _WIRE_DTYPES.get(dtype)
    if text is not None:
        return text
    text = np.dtype(dtype).str
    if not _DTYPE_RE.match(text):
        raise TypeError(f"dtype {np.dtype(dtype)} cannot be sent (numeric dtypes only)")
    if isinstance(dtype, np.dtype):
        _WIRE_DTYPES[dtype] = text
    return text


_WIRE_DTYPES: dict[np.dtype, str] = {}  # only allowed dtypes: a handful of entries
_REF_CACHE_MAX = 1024  # packed ndarray references by (index, dtype, shape); frames repeat shapes


class Encoder:
    """Packs values for one sending thread; reuses its msgpack Packer."""

    def __init__(self, to_wire: Callable[[Any], Any] | None = None):
        self._buffers: list = []
        self._to_wire = to_wire
        self._packer = msgpack.Packer(default=self._default, use_bin_type=True)
        self._refs: dict[tuple, msgpack.ExtType] = {}

    def pack(self, document: Any) -> tuple[bytes, list]:
        """Return (msgpack bytes, out-of-band buffers) for a document (and any `array()` before)."""
        buffers = self._buffers
        try:
            return self._packer.pack(document), buffers
        except BaseException:
            self._packer.reset()
            raise
        finally:
            self._buffers = []

    def _default(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            return self._ndarray(obj)
        if isinstance(obj, np.generic):
            return self._ndarray(np.asarray(obj))
        if self._to_wire is not None:
            wire = self._to_wire(obj)
            if wire is not None:
                return wire
        if isinstance(obj, (tuple, set, frozenset)):
            return list(obj)
        raise TypeError(f"cannot encode {type(obj).__name__}")

    def _ndarray(self, array: np.ndarray) -> msgpack.ExtType:
        dtype_str = wire_dtype(array.dtype)
        if not array.flags.c_contiguous:
            array = np.ascontiguousarray(array)
        index = len(self._buffers)
        # A flat uint8 view: no copy, and the buffer protocol sees plain bytes.
        self._buffers.append(array.reshape(-1).view(np.uint8))
        key = (index, dtype_str, array.shape)
        ext = self._refs.get(key)
        if ext is None:
            if len(self._refs) >= _REF_CACHE_MAX:
                self._refs.clear()
            ext = self._refs[key] = msgpack.ExtType(
                EXT_NDARRAY, msgpack.packb([index, dtype_str, list(array.shape)]))
        return ext

    def array(self, value: Any) -> Any:
        """`value` with a top-level ndarray already turned into its reference (saves the
        Packer's default hook for the commonest body); anything else unchanged."""
        return self._ndarray(value) if type(value) is np.ndarray else value


def frame_buffer(frame: Any) -> memoryview:
    """A memoryview on a received frame (zmq.Frame, bytes or any buffer)."""
    buffer = getattr(frame, "buffer", None)
    return buffer if buffer is not None else memoryview(frame)


def unpack(data: Any, frames: Sequence[Any], limits: Limits = DEFAULT_LIMITS) -> Any:
    """Decode one msgpack document whose ndarrays refer to `frames`."""
    header = frame_buffer(data)
    if header.nbytes > limits.max_header_bytes:
        raise DecodeError(f"header is {header.nbytes} bytes, limit {limits.max_header_bytes}")
    if len(frames) > limits.max_buffers:
        raise DecodeError(f"{len(frames)} buffer frames, limit {limits.max_buffers}")
    total = header.nbytes + sum(map(len, frames))
    if total > limits.max_total_bytes:
        raise DecodeError(f"message is {total} bytes, limit {limits.max_total_bytes}")
    used = [False] * len(frames)

    def ext_hook(code: int, payload: bytes) -> np.ndarray:
        if code != EXT_NDARRAY:
            raise DecodeError(f"unknown ExtType code {code}")
        return _ndarray_from_ref(payload, frames, used, limits)

    try:
        value = msgpack.unpackb(header, ext_hook=ext_hook)
    except DecodeError:
        raise
    except Exception as exc:  # msgpack raises several types for bad input
        raise DecodeError(f"malformed msgpack: {exc}") from None
    if frames and not all(used):
        raise DecodeError(f"{used.count(False)} buffer frame(s) not referenced by the header")
    return value


def _ndarray_from_ref(payload: bytes, frames: Sequence[Any], used: list,
                      limits: Limits) -> np.ndarray:
    # Hot path for every array received: a reference seen before is not parsed again.
    ref = _REFS.get(payload)
    if ref is None:
        ref = _parse_ref(payload)
        if len(_REFS) >= _REF_CACHE_MAX:
            _REFS.clear()
        _REFS[payload] = ref
    index, dtype, shape, nbytes = ref
    if index >= len(frames):
        raise DecodeError(f"ndarray buffer index {index!r} out of range (have {len(frames)})")
    if used[index]:
        raise DecodeError(f"buffer frame {index} referenced twice")
    if len(shape) > limits.max_ndim:
        raise DecodeError(f"ndarray shape {shape!r} is not a list of at most {limits.max_ndim} dims")
    view = frame_buffer(frames[index])
    if view.nbytes != nbytes:
        raise DecodeError(f"buffer frame {index} is {view.nbytes} bytes, "
                          f"shape {list(shape)} {dtype.str} needs {nbytes}")
    used[index] = True
    # A read-only view on the received frame: no copy, and nobody can write into it.
    array = np.frombuffer(view.toreadonly(), dtype=dtype)
    return array if len(shape) == 1 else array.reshape(shape)


_REFS: dict[bytes, tuple] = {}  # payload -> checked (index, dtype, shape, nbytes)
_MAX_NDIM = 32  # what any Limits may allow; a shorter limit is checked per message


def _parse_ref(payload: bytes) -> tuple:
    """Parse and check an ndarray reference on its own (no frames, no per-message limits)."""
    try:
        index, dtype_str, shape = msgpack.unpackb(payload)
    except Exception:
        raise DecodeError("malformed ndarray reference: must be msgpack [index, dtype, shape]") from None
    if type(index) is not int or index < 0:
        raise DecodeError(f"ndarray buffer index {index!r} out of range")
    dtype = _DTYPES.get(dtype_str) if type(dtype_str) is str else None
    if dtype is None:
        dtype = check_dtype(dtype_str)
    if type(shape) is not list or len(shape) > _MAX_NDIM:
        raise DecodeError(f"ndarray shape {shape!r} is not a list of at most {_MAX_NDIM} dims")
    count = 1
    for dim in shape:
        if type(dim) is not int or dim < 0:
            raise DecodeError(f"ndarray shape {shape!r} has a non-integer or negative dim")
        count *= dim
    return index, dtype, tuple(shape), count * dtype.itemsize
