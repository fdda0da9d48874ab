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

import re
import reprlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import msgpack
import numpy as np

PROTOCOL_VERSION = 1
EXT_NDARRAY = 1
EXT_NDARRAY_INLINE = 2
MAX_EXT_BYTES = 1024  # an ndarray reference: [index, dtype, shape of <= max_ndim dims]
INLINE_MAX_BYTES = 4096  # smaller arrays are sent inside the header (a copy costs less than a frame)

# Only plain numbers cross the wire: bool, signed/unsigned ints, floats, complex.
_DTYPE_RE = re.compile(r"[<>|](b1|i1|i2|i4|i8|u1|u2|u4|u8|f2|f4|f8|c8|c16)")
# The three encodings of a msgpack Timestamp (ext -1): fixext 4, fixext 8, ext 8 of 12 bytes.
_TIMESTAMP_RE = re.compile(rb"\xd6\xff|\xd7\xff|\xc7\x0c\xff")
# msgpack's container markers: fixmap, fixarray, array 16/32, map 16/32. A byte count of
# these bounds the containers in a document (strings may contain them too: only an upper bound).
_CONTAINER_MARKERS = bytes(range(0x80, 0xA0)) + b"\xdc\xdd\xde\xdf"
_NOT_CONTAINER_MARKERS = bytes(set(range(256)) - set(_CONTAINER_MARKERS))
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 60, 60


class DecodeError(ValueError):
    """A peer sent something this side will not decode; the message says what."""


def short(value: Any) -> str:
    """A bounded repr of a peer's value for error messages (no deep recursion, no huge text)."""
    return _SHORT.repr(value)


@dataclass(frozen=True)
class Limits:
    """What a decoder accepts from a peer it does not trust.

    `max_items` counts containers plus their elements over the whole header, so a header
    of a million empty lists is refused while it is being decoded; `max_total_bytes` also
    becomes the socket's ZMQ_MAXMSGSIZE (libzmq applies it to each frame).
    """

    max_header_bytes: int = 8 << 20
    max_total_bytes: int = 256 << 20
    max_buffers: int = 256
    max_ndim: int = 32
    max_items: int = 1 << 17
    max_depth: int = 32
    unpack_options: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Precomputed once: msgpack's own per-container and per-string bounds.
        object.__setattr__(self, "unpack_options", dict(
            max_str_len=self.max_header_bytes, max_bin_len=self.max_header_bytes,
            max_array_len=self.max_items, max_map_len=self.max_items,
            max_ext_len=self.max_header_bytes))  # ext 1 is held to MAX_EXT_BYTES by its hook

    @property
    def max_frame_bytes(self) -> int:
        """For ZMQ_MAXMSGSIZE: no single frame can be larger than the whole message."""
        return max(self.max_header_bytes, self.max_total_bytes)

    def replace(self, **changes) -> "Limits":
        names = ("max_header_bytes", "max_total_bytes", "max_buffers", "max_ndim", "max_items",
                 "max_depth")
        return Limits(**{**{name: getattr(self, name) for name in names}, **changes})


# Per kind of socket. Requests and replies carry model uploads (4 MiB chunks in the header)
# and forward() tensors; a stream message is a frame (a 4K RGB image is 25 MB); the control
# endpoint of `edge launch` takes small commands only.
REQUEST_LIMITS = Limits()
REPLY_LIMITS = REQUEST_LIMITS
STREAM_LIMITS = Limits(max_header_bytes=1 << 20, max_total_bytes=64 << 20)
CONTROL_LIMITS = Limits(max_header_bytes=256 << 10, max_total_bytes=256 << 10, max_buffers=4,
                        max_items=1 << 14)
DEFAULT_LIMITS = REQUEST_LIMITS


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


def frame_buffer(frame: Any) -> memoryview:
    """A memoryview on a received frame (zmq.Frame, bytes or any buffer)."""
    buffer = getattr(frame, "buffer", None)
    return buffer if buffer is not None else memoryview(frame)


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
    decoding = _Decoding(frames, limits)
    # Every item takes at least one byte, so a header of at most max_items / 2 bytes cannot
    # hold more than max_items: the per-container counting hooks (Python calls) are only
    # needed for bigger headers. Likewise a header with fewer container-marker bytes than
    # max_depth cannot nest that deep, so the depth walk runs only when it could fail.
    small = 2 * size <= limits.max_items
    try:
        if small:
            value = msgpack.unpackb(header, ext_hook=decoding.ext_hook, **limits.unpack_options)
        else:
            value = msgpack.unpackb(header, ext_hook=decoding.ext_hook, list_hook=decoding.count,
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
            return _inline_ndarray(payload, self.limits)
        if code != EXT_NDARRAY:
            raise DecodeError(f"unknown ExtType code {code}")
        if len(payload) > MAX_EXT_BYTES:
            raise DecodeError(f"ndarray reference is {len(payload)} bytes, "
                              f"limit {MAX_EXT_BYTES}")
        return _ndarray_from_ref(payload, self.frames, self.used, self.limits)


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


def _ndarray_from_ref(payload: bytes, frames: Sequence[Any], used: list,
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


def _inline_ndarray(payload: bytes, limits: Limits) -> np.ndarray:
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
