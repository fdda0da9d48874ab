"""The stream header, version 2: fixed fields in a struct, msgpack only for the body.

    offset  size
    0       1    version: 2 (a version 1 header is a msgpack map: first byte 0x8_, 0xde or 0xdf)
    1       1    flags: TRAIL | ARRAY | OUT_OF_BAND; other bits 0
    2       2    u16 length of `type` (UTF-8)
    4       2    u16 length of `src` (UTF-8)
    6       8    u64 seq          } each in [0, 2**63)
    14      8    u64 stamp_ns     }
    22      8    u64 pub_ns       }
    30           type, then src
    TRAIL:       u32 n, then n bytes: msgpack trail [[node, recv_ns, pub_ns], ...]
    ARRAY:       u8 n, n bytes dtype (ASCII, e.g. "<f4"), u8 ndim, ndim x u64 dims, then the
                 array's bytes in C order to the end of the frame, or with OUT_OF_BAND nothing
                 more: they are the one frame after the header
    otherwise:   the body, one msgpack document to the end of the frame (codec: arrays as
                 ExtType 1 referring to the frames after the header, or ExtType 2 inline)

All integers little-endian. The commonest body, one array, is read without msgpack at all.
Decoding raises only DecodeError.
"""
from __future__ import annotations

import struct
from typing import Any, Sequence

import numpy as np

from messages.codec import (INLINE_MAX_BYTES, Encoder, Limits, DecodeError, check_dtype, check_extent,
                            frame_buffer, remember, short, unpack, wire_dtype)

VERSION = 2
TRAIL, ARRAY, OUT_OF_BAND = 1, 2, 4
FIXED = struct.Struct("<BBHHQQQ")
MAX_SEQ = (1 << 63) - 1  # seq and times fit int64, so counters built on them cannot overflow
_U32, _U8 = struct.Struct("<I"), struct.Struct("<B")
_MAX_DIM = np.iinfo(np.intp).max
_DESCRIPTORS: dict = {}  # (dtype str, shape) -> packed array descriptor; shapes repeat
_PARSED: dict = {}  # packed descriptor -> (dtype, shape, nbytes), checked once
_NAMES: dict = {}  # (len(type), type + src bytes) -> (type, src), decoded once


def encode(topic: bytes, type_name: str, seq: int, stamp_ns: int, pub_ns: int, source: str,
           value: Any, trail: list | None, encoder: Encoder) -> list:
    """[topic, header, *buffers] for one stream message."""
    type_bytes, source_bytes = type_name.encode(), source.encode()
    flags, parts = 0, [b"", type_bytes, source_bytes]
    if trail is not None:
        packed, _ = encoder.pack(trail)
        flags |= TRAIL
        parts += (_U32.pack(len(packed)), packed)
    frames = [topic, None]
    if type(value) is np.ndarray:  # (a typed value is a Schema, never a bare array)
        flags |= ARRAY
        parts.append(_descriptor(wire_dtype(value.dtype), value.shape))
        if value.nbytes <= INLINE_MAX_BYTES:
            parts.append(value.tobytes())  # C order whatever the array's layout
        else:
            flags |= OUT_OF_BAND
            if not value.flags.c_contiguous:
                value = np.ascontiguousarray(value)
            frames.append(value.reshape(-1).view(np.uint8))
    else:
        body, buffers = encoder.pack(value)
        parts.append(body)
        frames += buffers
    parts[0] = FIXED.pack(VERSION, flags, len(type_bytes), len(source_bytes), seq, stamp_ns, pub_ns)
    frames[1] = b"".join(parts)
    return frames


def _descriptor(dtype_str: str, shape: tuple) -> bytes:
    key = (dtype_str, shape)
    found = _DESCRIPTORS.get(key)
    if found is None:
        found = remember(_DESCRIPTORS, key, _U8.pack(len(dtype_str)) + dtype_str.encode()
                         + _U8.pack(len(shape)) + struct.pack(f"<{len(shape)}Q", *shape))
    return found


def decode(frames: Sequence[Any], data: Any, limits: Limits) -> tuple:
    """(type, seq, stamp_ns, pub_ns, src, body, trail or None) of [topic, header, *buffers],
    `data` being the header's `codec.frame_data`."""
    size = len(data)
    if size > limits.max_header_bytes:
        raise DecodeError(f"header is {size} bytes, limit {limits.max_header_bytes}")
    if len(frames) - 2 > limits.max_buffers:
        raise DecodeError(f"{len(frames) - 2} buffer frames, limit {limits.max_buffers}")
    if size < FIXED.size:
        raise DecodeError(f"stream header is {size} bytes, shorter than its {FIXED.size} fixed")
    _, flags, type_len, source_len, seq, stamp_ns, pub_ns = FIXED.unpack_from(data)
    if flags & ~(TRAIL | ARRAY | OUT_OF_BAND) or flags & OUT_OF_BAND and not flags & ARRAY:
        raise DecodeError(f"stream header flags {flags:#04x} are not allowed")
    if seq > MAX_SEQ or stamp_ns > MAX_SEQ or pub_ns > MAX_SEQ:
        raise DecodeError("stream header 'seq', 'stamp_ns' and 'pub_ns' must be in [0, 2**63)")
    at = FIXED.size + type_len + source_len
    if at > size:
        raise DecodeError("stream header ends inside its type or src")
    names = data[FIXED.size:at]
    found = _NAMES.get((type_len, names))  # a publisher sends the same two names every time
    if found is None:
        found = _names(names, type_len)
    type_name, source = found
    trail = None
    if flags & TRAIL:
        trail, at = _trail(data, at, limits)
    if flags & ARRAY:
        if type_name:
            raise DecodeError("a typed stream body cannot be a bare array")
        body = _array(data, at, frames, flags & OUT_OF_BAND, limits)
    else:
        body = unpack(data[at:], frames[2:], limits)
    return type_name, seq, stamp_ns, pub_ns, source, body, trail


def _names(names: Any, type_len: int) -> tuple:
    try:
        found = str(names[:type_len], "utf-8"), str(names[type_len:], "utf-8")
    except UnicodeDecodeError:
        raise DecodeError("stream header 'type' or 'src' is not UTF-8") from None
    return remember(_NAMES, (type_len, bytes(names)), found)


def _trail(data: Any, at: int, limits: Limits) -> tuple:
    if at + 4 > len(data):
        raise DecodeError("stream header ends inside its trail length")
    (length,) = _U32.unpack_from(data, at)
    at += 4
    if at + length > len(data):
        raise DecodeError(f"stream trail claims {length} bytes, {len(data) - at} left")
    return unpack(data[at:at + length], (), limits), at + length


def _array(data: Any, at: int, frames: Sequence[Any], out_of_band: int, limits: Limits) -> Any:
    """The body array: a read-only view on the header (inline) or on frame 2."""
    end = at + 2 + (data[at] if at < len(data) else 0)
    if end > len(data):
        raise DecodeError("stream header ends inside its array's dtype")
    end += 8 * data[end - 1]
    if end > len(data):
        raise DecodeError("stream header ends inside its array's shape")
    key = data[at:end]
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = _parse_descriptor(key)
    dtype, shape, nbytes = parsed
    if len(shape) > limits.max_ndim:
        raise DecodeError(f"ndarray shape {short(list(shape))} is not a list of at most "
                          f"{limits.max_ndim} dims")
    if out_of_band:
        if end != len(data) or len(frames) != 3:
            raise DecodeError("an out-of-band stream array needs the header to end at its "
                              f"shape and exactly one buffer frame (got {len(frames) - 2})")
        buffer = frame_buffer(frames[2])
        if buffer.nbytes != nbytes:
            raise DecodeError(f"buffer frame 0 is {buffer.nbytes} bytes, shape {list(shape)} "
                              f"{dtype.str} needs {nbytes}")
        if buffer.nbytes + len(data) > limits.max_total_bytes:
            raise DecodeError(f"message is {buffer.nbytes + len(data)} bytes, "
                              f"limit {limits.max_total_bytes}")
        return np.ndarray(shape, dtype, buffer.toreadonly())
    if len(frames) != 2:
        raise DecodeError(f"{len(frames) - 2} buffer frame(s) not referenced by the header")
    if len(data) - end != nbytes:
        raise DecodeError(f"inline ndarray holds {len(data) - end} bytes, "
                          f"shape {list(shape)} {dtype.str} needs {nbytes}")
    return np.ndarray(shape, dtype, data, end)  # read-only: data is bytes or a read-only view


def _parse_descriptor(key: bytes) -> tuple:
    dtype_len = key[0]
    try:
        dtype_str = str(key[1:1 + dtype_len], "ascii")
    except UnicodeDecodeError:
        raise DecodeError("stream array dtype is not ASCII") from None
    dtype = check_dtype(dtype_str)
    ndim = key[1 + dtype_len]
    shape = struct.unpack_from(f"<{ndim}Q", key, 2 + dtype_len)
    count = 1
    for dim in shape:
        if dim > _MAX_DIM:
            raise DecodeError(f"ndarray shape {short(list(shape))} has a dim above 2**63-1")
        count *= dim
    check_extent(shape, dtype)
    return remember(_PARSED, bytes(key), (dtype, shape, count * dtype.itemsize))


def rewrite(header: Any, **fields: Any) -> bytes:
    """A version 2 header with `stamp_ns`, `pub_ns` or `trail` replaced (trail=None removes
    it); the body is kept byte for byte, so buffer frames still match."""
    data = bytes(frame_buffer(header))
    if len(data) < FIXED.size:
        raise DecodeError(f"stream header is {len(data)} bytes, shorter than its {FIXED.size} fixed")
    version, flags, type_len, source_len, seq, stamp_ns, pub_ns = FIXED.unpack_from(data)
    if version != VERSION:
        raise DecodeError(f"stream header version {version} is not {VERSION}")
    at = FIXED.size + type_len + source_len
    body_at = at
    if flags & TRAIL:
        if at + 4 > len(data):
            raise DecodeError("stream header ends inside its trail length")
        body_at = at + 4 + _U32.unpack_from(data, at)[0]
    if body_at > len(data):
        raise DecodeError("stream header ends inside its trail")
    unknown = set(fields) - {"stamp_ns", "pub_ns", "trail"}
    if unknown:
        raise ValueError(f"cannot rewrite {sorted(unknown)} in a stream header")
    trail_part = data[at:body_at]
    if "trail" in fields:
        trail = fields["trail"]
        flags &= ~TRAIL
        trail_part = b""
        if trail is not None:
            packed, _ = Encoder().pack(trail)
            flags |= TRAIL
            trail_part = _U32.pack(len(packed)) + packed
    fixed = FIXED.pack(version, flags, type_len, source_len, seq,
                       fields.get("stamp_ns", stamp_ns), fields.get("pub_ns", pub_ns))
    return fixed + data[FIXED.size:at] + trail_part + data[body_at:]
