"""How edge messages sit in an MCAP file (docs/RECORDING.md). Pure: no I/O.

One channel per topic, message encoding `edge-multipart`: a message's data is the wire
frames after the topic frame ([header, *buffers], docs/PROTOCOL.md), each prefixed by its
length, so recording is a copy and playback sends the same bytes again.

    data = u32 frame_count, then per frame: u64 length, bytes      (little-endian)
"""
from __future__ import annotations

import struct
from typing import Any, Sequence

import msgpack

from messages import DecodeError, stream

MESSAGE_ENCODING = "edge-multipart"
SCHEMA_ENCODING = "edge-multipart"
SCHEMA_PREFIX = "edge."
UNTYPED_SCHEMA = "edge.value"   # a header with `type: ""`
PROFILE = ""                   # no MCAP profile: the encoding names say what the data is

_COUNT = struct.Struct("<I")
_LENGTH = struct.Struct("<Q")
MAX_FRAMES = 4097               # header + the protocol's 4096 buffers
HEADER_AT = _COUNT.size + _LENGTH.size  # where the first frame (the header) starts in a body


def schema_name(type_name: str) -> str:
    """The MCAP schema name of a header `type` ("Image" -> "edge.Image")."""
    return SCHEMA_PREFIX + type_name if type_name else UNTYPED_SCHEMA


def frame_parts(frames: Sequence[Any]) -> list:
    """The pieces of one record body, in order: count, then each length and frame (no copy)."""
    parts: list = [_COUNT.pack(len(frames))]
    for frame in frames:
        view = memoryview(frame)
        if view.ndim != 1 or view.format != "B":
            view = view.cast("B")
        parts.append(_LENGTH.pack(view.nbytes))
        parts.append(view)
    return parts


def pack_frames(frames: Sequence[Any]) -> bytes:
    """[header, *buffers] -> one length-prefixed record body (one copy of the bytes)."""
    return b"".join(frame_parts(frames))


def unpack_frames(data: Any) -> list[memoryview]:
    """A record body -> read-only views on its frames; DecodeError if it does not add up."""
    view = memoryview(data).toreadonly()
    if view.nbytes < _COUNT.size:
        raise DecodeError(f"recorded message is {view.nbytes} bytes, too short for a frame count")
    (count,) = _COUNT.unpack_from(view, 0)
    if not 1 <= count <= MAX_FRAMES:
        raise DecodeError(f"recorded message has {count} frames (1..{MAX_FRAMES} allowed)")
    frames, offset = [], _COUNT.size
    for index in range(count):
        if offset + _LENGTH.size > view.nbytes:
            raise DecodeError(f"recorded message ends inside the length of frame {index}")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += _LENGTH.size
        if length > view.nbytes - offset:
            raise DecodeError(f"recorded frame {index} claims {length} bytes, "
                              f"{view.nbytes - offset} left")
        frames.append(view[offset:offset + length])
        offset += length
    if offset != view.nbytes:
        raise DecodeError(f"recorded message has {view.nbytes - offset} trailing bytes")
    return frames


def carries_trail(data: Any) -> bool:
    """Whether a record body's stream header carries a trail (without decoding the value:
    version 2 says it in a flag; a version 1 map is parsed, its arrays left as ExtTypes)."""
    view = memoryview(data)
    if view.nbytes <= HEADER_AT + 1:
        return False
    if view[HEADER_AT] == stream.VERSION:
        return bool(view[HEADER_AT + 1] & stream.TRAIL)
    try:
        header = unpack_frames(view)[0]
        document = msgpack.unpackb(header, strict_map_key=False)
    except Exception:  # a recording's header we cannot read carries no trail we can show
        return False
    return isinstance(document, dict) and document.get("trail") is not None


def rewrite_header(header: Any, **fields: Any) -> bytes:
    """A stream header with some keys replaced (e.g. pub_ns) or, given None, removed; array
    references are kept byte for byte, so the buffer frames still match."""
    if memoryview(header)[:1] == bytes([stream.VERSION]):
        return stream.rewrite(header, **fields)
    try:
        document = msgpack.unpackb(memoryview(header), strict_map_key=False)
    except Exception as exc:  # msgpack raises several types for bad input
        raise DecodeError(f"malformed recorded header: {exc}") from None
    if not isinstance(document, dict):
        raise DecodeError("recorded header is not a map")
    for key, value in fields.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return msgpack.packb(document, use_bin_type=True)
