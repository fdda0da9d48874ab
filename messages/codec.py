"""msgpack header + out-of-band ndarray frames.

A value is packed into one msgpack document. Every ndarray inside it becomes an
ExtType(EXT_NDARRAY, msgpack([buffer_index, dtype_str, shape])) that points at a
separate frame holding the raw bytes, so large tensors are never copied into
msgpack and decode to read-only views on the received frames. Arrays of at most
INLINE_MAX_BYTES travel inside the header instead, as
ExtType(EXT_NDARRAY_INLINE, u8 n + msgpack([dtype_str, shape]) (n bytes) + raw bytes):
one frame less to send and receive, which is most of the cost of a small message.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Callable, Sequence

import msgpack
import numpy as np

# Limits and the array forms live in their own modules; their names are the codec's API too.
from messages.arrays import (EXT_NDARRAY, EXT_NDARRAY_INLINE, MAX_EXT_BYTES,  # noqa: F401
                             check_dtype, check_extent, frame_buffer, inline_ndarray,
                             ndarray_from_ref, remember, wire_dtype)
from messages.limits import (CONTROL_LIMITS, DEFAULT_LIMITS, REPLY_LIMITS,  # noqa: F401
                             REQUEST_LIMITS, STREAM_LIMITS, DecodeError, Limits, short)

PROTOCOL_VERSION = 1
INLINE_MAX_BYTES = 4096  # smaller arrays are sent inside the header (a copy costs less than a frame)

# The three encodings of a msgpack Timestamp (ext -1): fixext 4, fixext 8, ext 8 of 12 bytes.
_TIMESTAMP_RE = re.compile(rb"\xd6\xff|\xd7\xff|\xc7\x0c\xff")
# msgpack's container markers: fixmap, fixarray, array 16/32, map 16/32. A byte count of
# these bounds the containers in a document (strings may contain them too: only an upper bound).
_CONTAINER_MARKERS = bytes(range(0x80, 0xA0)) + b"\xdc\xdd\xde\xdf"
_NOT_CONTAINER_MARKERS = bytes(set(range(256)) - set(_CONTAINER_MARKERS))


# ExtType is a namedtuple whose __new__ checks its arguments (~0.3 µs); ours are right by
# construction, so an inline array's is built as the tuple it is.
_new_ext = tuple.__new__


class Encoder:
    """Packs values for one sending thread; reuses its msgpack Packer."""

    def __init__(self, to_wire: Callable[[Any], Any] | None = None,
                 inline_max_bytes: int = 0):
        self._buffers: list = []
        self._to_wire = to_wire
        self._inline_max_bytes = inline_max_bytes
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
        if array.nbytes <= self._inline_max_bytes:
            prefix = self._refs.get((dtype_str, array.shape))
            if prefix is None:
                prefix = self._inline_prefix(dtype_str, array.shape)
            if prefix:  # tobytes() is C order whatever the array's layout
                return _new_ext(msgpack.ExtType, (EXT_NDARRAY_INLINE, prefix + array.tobytes()))
        if not array.flags.c_contiguous:
            array = np.ascontiguousarray(array)
        index = len(self._buffers)
        # A flat uint8 view: no copy, and the buffer protocol sees plain bytes.
        self._buffers.append(array.reshape(-1).view(np.uint8))
        key = (index, dtype_str, array.shape)
        ext = self._refs.get(key)
        if ext is None:
            ext = remember(self._refs, key, msgpack.ExtType(
                EXT_NDARRAY, msgpack.packb([index, dtype_str, list(array.shape)])))
        return ext

    def _inline_prefix(self, dtype_str: str, shape: tuple) -> bytes:
        """u8 length + msgpack [dtype, shape]; b"" if that is too long to inline (many dims)."""
        ref = msgpack.packb([dtype_str, list(shape)])
        prefix = bytes([len(ref)]) + ref if len(ref) <= 255 else b""
        return remember(self._refs, (dtype_str, shape), prefix)

    def array(self, value: Any) -> Any:
        """`value` with a top-level ndarray already turned into its reference (saves the
        Packer's default hook for the commonest body); anything else unchanged."""
        return self._ndarray(value) if type(value) is np.ndarray else value


COPY_MAX_BYTES = 1 << 16  # smaller headers are parsed from a bytes copy (cheaper than a view)


def frame_data(frame: Any) -> Any:
    """A received frame as bytes when small, else a flat read-only memoryview: what the
    decoders parse (msgpack and struct both read bytes faster than views)."""
    if type(frame) is bytes:
        return frame
    if len(frame) <= COPY_MAX_BYTES:
        data = getattr(frame, "bytes", None)  # a zmq.Frame's own copy: faster than a view
        if type(data) is bytes:
            return data
    view = frame_buffer(frame)
    if view.nbytes <= COPY_MAX_BYTES:
        return bytes(view)
    return view.toreadonly().cast("B") if view.ndim != 1 or view.format != "B" else view.toreadonly()


def unpack(data: Any, frames: Sequence[Any], limits: Limits = DEFAULT_LIMITS) -> Any:
    """Decode one msgpack document whose ndarrays refer to `frames`.

    Raises DecodeError and nothing else, whatever the bytes.
    """
    header = frame_data(data)
    size = len(header)
    if size > limits.max_header_bytes:
        raise DecodeError(f"header is {size} bytes, limit {limits.max_header_bytes}")
    if len(frames) > limits.max_buffers:
        raise DecodeError(f"{len(frames)} buffer frames, limit {limits.max_buffers}")
    total = size + sum(map(len, frames))
    if total > limits.max_total_bytes:
        raise DecodeError(f"message is {total} bytes, limit {limits.max_total_bytes}")
    # Every item takes at least one byte, so a header of at most max_items / 2 bytes cannot
    # hold more than max_items: the per-container counting hooks (Python calls) are only
    # needed for bigger headers. Likewise a header with fewer container-marker bytes than
    # max_depth cannot nest that deep, so the depth walk runs only when it could fail.
    small = 2 * size <= limits.max_items
    if small and not frames:  # the commonest: a small call, its arrays inline; no state
        decoding, hook = None, _FRAMELESS_HOOKS.get(id(limits)) or _frameless_hook(limits)
    else:
        decoding = _Decoding(frames, limits)
        hook = decoding.ext_hook
    try:
        if small:
            value = msgpack.unpackb(header, ext_hook=hook, **limits.unpack_options)
        else:
            value = msgpack.unpackb(header, ext_hook=hook, list_hook=decoding.count,
                                    object_hook=decoding.count, **limits.unpack_options)
    except DecodeError:
        raise
    except Exception as exc:  # msgpack raises several types for bad input
        raise DecodeError(f"malformed msgpack: {short(exc)}") from None
    containers = (len(bytes(header).translate(None, _NOT_CONTAINER_MARKERS)) if small
                  else decoding.containers)
    if containers >= limits.max_depth:  # fewer containers cannot nest deeper
        _check_depth(value, limits.max_depth)
    if b"\xff" in header and _TIMESTAMP_RE.search(header) is not None:  # rare: then look
        _refuse_timestamps(value)
    if frames and not all(decoding.used):
        raise DecodeError(f"{decoding.used.count(False)} buffer frame(s) not referenced "
                          "by the header")
    return value


class _Decoding:
    """Per-message state of unpack: which frames are used, how many items were built."""

    __slots__ = ("frames", "limits", "used", "items", "containers")

    def __init__(self, frames: Sequence[Any], limits: Limits):
        self.frames, self.limits = frames, limits
        self.used = [False] * len(frames)
        self.items = self.containers = 0

    def count(self, container: Any) -> Any:
        """list/object hook: stops a header of many small containers while it is decoded."""
        self.containers += 1
        self.items += len(container) + 1
        if self.items > self.limits.max_items:
            raise DecodeError(f"header has more than {self.limits.max_items} items")
        return container

    def ext_hook(self, code: int, payload: bytes) -> np.ndarray:
        if code == EXT_NDARRAY_INLINE:
            return inline_ndarray(payload, self.limits)
        if code != EXT_NDARRAY:
            raise DecodeError(f"unknown ExtType code {code}")
        if len(payload) > MAX_EXT_BYTES:
            raise DecodeError(f"ndarray reference is {len(payload)} bytes, "
                              f"limit {MAX_EXT_BYTES}")
        return ndarray_from_ref(payload, self.frames, self.used, self.limits)


def _frameless_ext(limits: Limits, code: int, payload: bytes) -> np.ndarray:
    """The ext hook of a document without buffer frames: an inline array, else the error
    a reference to a frame gets (there is none)."""
    if code == EXT_NDARRAY_INLINE:
        return inline_ndarray(payload, limits)
    return _Decoding((), limits).ext_hook(code, payload)


_FRAMELESS_HOOKS: dict[int, Callable] = {}  # id(limits) -> its hook (which keeps limits alive)


def _frameless_hook(limits: Limits) -> Callable:
    hook = functools.partial(_frameless_ext, limits)
    remember(_FRAMELESS_HOOKS, id(limits), hook)
    return hook


def _check_depth(value: Any, max_depth: int) -> None:
    """Level by level, without recursion; scalars are skipped at C speed (set of types)."""
    level, depth = [value], 1
    while level:
        if depth > max_depth:
            raise DecodeError(f"header nests deeper than {max_depth} levels")
        deeper = []
        for item in level:
            children = item.values() if type(item) is dict else item
            kinds = set(map(type, children))
            if list in kinds or dict in kinds:
                deeper.extend(c for c in children if type(c) is list or type(c) is dict)
        level, depth = deeper, depth + 1


def _refuse_timestamps(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is msgpack.Timestamp:
            raise DecodeError("msgpack Timestamp (ext -1) is not allowed; only ExtType 1")
        if type(item) is list:
            stack.extend(item)
        elif type(item) is dict:
            stack.extend(item.values())


