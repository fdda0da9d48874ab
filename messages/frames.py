"""The frame layouts: one class per kind of message owns the order of its frames.

Stream:  [topic, header, *buffers]   header version 2 (messages.stream): type, seq, stamp_ns,
                                     pub_ns, src in a struct, then trail? and body; version 1
                                     (still read) = {v, type, seq, stamp_ns, pub_ns, src, body, trail?}
Request: [header, *buffers]          header = {v, id, method, body, timeout_ms?, priority?}
Reply:   [header, *buffers]          header = {v, id, ok, body} | {v, id, ok: false, error}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import msgpack

from messages.codec import (INLINE_MAX_BYTES, REPLY_LIMITS, REQUEST_LIMITS, STREAM_LIMITS, DecodeError, Encoder,
                            Limits, PROTOCOL_VERSION, frame_buffer, frame_data, short, unpack)
from messages import stream
from messages.schema import Schema, decode_typed, schema_to_wire
from messages.stream import MAX_SEQ
from messages.trail import check_trail

# The first byte of a stream header: version 1 is a msgpack map (fixmap, map 16, map 32).
_V1_FIRST_BYTES = frozenset(range(0x80, 0x90)) | {0xDE, 0xDF}


def new_encoder(inline_max_bytes: int = 0) -> Encoder:
    """An encoder for one sending thread: every array in a frame of its own, unless it is at
    most `inline_max_bytes` (then it travels inside the header)."""
    return Encoder(to_wire=schema_to_wire, inline_max_bytes=inline_max_bytes)


def new_stream_encoder() -> Encoder:
    """What publishers use: arrays up to INLINE_MAX_BYTES inside the header (one frame less)."""
    return new_encoder(INLINE_MAX_BYTES)


class CallEncoder:
    """Encodes requests and replies for one sending thread: arrays of up to
    INLINE_MAX_BYTES inside the header (a tiny call is one frame), unless that makes the
    header bigger than `max_header_bytes` (what a receiver accepts): then every array goes
    in a frame of its own."""

    def __init__(self, max_header_bytes: int = REQUEST_LIMITS.max_header_bytes):
        self._inline = new_encoder(INLINE_MAX_BYTES)
        self._framed = new_encoder()
        self._max_header_bytes = max_header_bytes

    def frames(self, message: "RequestMessage | ReplyMessage") -> list:
        frames = message.to_frames(self._inline)
        if len(frames[0]) > self._max_header_bytes:
            frames = message.to_frames(self._framed)
        return frames


def _header(frames: Sequence[Any], first: int, what: str, limits: Limits) -> dict:
    if len(frames) <= first:
        raise DecodeError(f"{what} needs at least {first + 1} frame(s), got {len(frames)}")
    header = unpack(frames[first], frames[first + 1:], limits)
    if not isinstance(header, dict):
        raise DecodeError(f"{what} header must be a map, got {type(header).__name__}")
    version = header.get("v")
    if version != PROTOCOL_VERSION:
        raise DecodeError(f"unknown protocol version {short(version)} "
                          f"(this side speaks {PROTOCOL_VERSION})")
    return header


def _field(header: dict, key: str, kind: type | tuple, what: str, default: Any = ...) -> Any:
    value = header.get(key, default)
    if value is ...:
        raise DecodeError(f"{what} header has no {key!r}")
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise DecodeError(f"{what} header {key!r} has type {type(value).__name__}")
    return value


@dataclass
class StreamMessage:
    """One published value on a topic, with its capture and publish times, and optionally
    its trail of hops (messages.trail)."""

    topic: str
    value: Any
    seq: int = 0
    stamp_ns: int = 0
    pub_ns: int = 0
    source: str = ""
    trail: Optional[list] = None

    def to_frames(self, encoder: Encoder) -> list:
        """Version 2 frames (messages.stream): [topic, header, *buffers]."""
        type_name = self.value.TYPE if isinstance(self.value, Schema) else ""
        return stream.encode(self.topic.encode(), type_name, self.seq, self.stamp_ns,
                             self.pub_ns, self.source, self.value, self.trail, encoder)

    def to_frames_v1(self, encoder: Encoder) -> list:
        """Version 1 frames (a msgpack map header): what peers that predate version 2 send."""
        type_name = self.value.TYPE if isinstance(self.value, Schema) else ""
        document = {"v": PROTOCOL_VERSION, "type": type_name, "seq": self.seq,
                    "stamp_ns": self.stamp_ns, "pub_ns": self.pub_ns, "src": self.source,
                    "body": encoder.array(self.value)}
        if self.trail is not None:
            document["trail"] = self.trail
        header, buffers = encoder.pack(document)
        return [self.topic.encode(), header, *buffers]

    @classmethod
    def from_frames(cls, frames: Sequence[Any], limits: Limits = STREAM_LIMITS) -> "StreamMessage":
        """Either version of header; raises DecodeError and nothing else."""
        if len(frames) < 2:
            raise DecodeError(f"stream message needs [topic, header, *buffers], "
                              f"got {len(frames)} frame(s)")
        try:
            topic = str(frame_data(frames[0]), "utf-8")
        except UnicodeDecodeError:
            raise DecodeError("topic frame is not UTF-8") from None
        data = frame_data(frames[1])
        first = data[0] if len(data) else None
        if first == stream.VERSION:
            type_name, seq, stamp_ns, pub_ns, source, value, trail = stream.decode(frames, data,
                                                                                   limits)
        elif first in _V1_FIRST_BYTES:
            type_name, seq, stamp_ns, pub_ns, source, value, trail = _decode_v1(frames, limits)
        else:
            raise DecodeError(f"stream header starts with {bytes(data[:1])!r}: neither version 1 "
                              f"(a msgpack map) nor version {stream.VERSION}")
        return cls(topic, decode_typed(type_name, value) if type_name else value,
                   seq, stamp_ns, pub_ns, source, None if trail is None else check_trail(trail))


def _decode_v1(frames: Sequence[Any], limits: Limits) -> tuple:
    header = _header(frames, 1, "stream", limits)
    seq, stamp_ns, pub_ns = header.get("seq"), header.get("stamp_ns"), header.get("pub_ns")
    if (type(seq) is not int or type(stamp_ns) is not int or type(pub_ns) is not int
            or not (0 <= seq <= MAX_SEQ and 0 <= stamp_ns <= MAX_SEQ
                    and 0 <= pub_ns <= MAX_SEQ)):
        for key in ("seq", "stamp_ns", "pub_ns"):
            if not 0 <= _field(header, key, int, "stream") <= MAX_SEQ:
                raise DecodeError(f"stream header {key!r} must be in [0, 2**63)")
    type_name, source = header.get("type", ""), header.get("src", "")
    if type(type_name) is not str or type(source) is not str:
        raise DecodeError("stream header 'type' and 'src' must be strings")
    return type_name, seq, stamp_ns, pub_ns, source, header.get("body"), header.get("trail")


@dataclass
class RequestMessage:
    """A call to a service method; `timeout_ms` is relative so clocks need not agree."""

    id: Any
    method: str
    body: Any = None
    timeout_ms: Optional[int] = None
    priority: int = 0

    def to_frames(self, encoder: Encoder) -> list:
        header = {"v": PROTOCOL_VERSION, "id": self.id, "method": self.method, "body": self.body}
        if self.timeout_ms is not None:
            header["timeout_ms"] = self.timeout_ms
        if self.priority:
            header["priority"] = self.priority
        packed, buffers = encoder.pack(header)
        return [packed, *buffers]

    @classmethod
    def from_frames(cls, frames: Sequence[Any],
                    limits: Limits = REQUEST_LIMITS) -> "RequestMessage":
        header = _header(frames, 0, "request", limits)
        get = header.get  # msgpack gives exact types: `type(x) is int` also refuses a bool
        request_id, method = get("id"), get("method")
        timeout_ms, priority = get("timeout_ms"), get("priority", 0)
        if type(request_id) is not str and type(request_id) is not int:
            raise DecodeError(f"request id must be an int or string, got {short(request_id)}")
        if type(method) is not str:
            _field(header, "method", str, "request")  # raises, naming what is wrong
        if timeout_ms is not None and (type(timeout_ms) is not int or timeout_ms < 0):
            _field(header, "timeout_ms", (int, type(None)), "request", None)
            raise DecodeError(f"request timeout_ms must be >= 0, got {timeout_ms}")
        if type(priority) is not int:
            _field(header, "priority", int, "request", 0)
        return cls(request_id, method, get("body"), timeout_ms, priority)

    @staticmethod
    def peek_id(frames: Sequence[Any], limits: Limits = REQUEST_LIMITS) -> Any:
        """Best-effort request id of a request that failed to decode, for the error reply."""
        try:  # lenient on purpose (the strict decoder refused this header), but bounded
            header = frame_buffer(frames[0])
            if header.nbytes > limits.max_header_bytes:
                return None
            header = msgpack.unpackb(header, strict_map_key=False, ext_hook=_ignore_ext,
                                     **limits.unpack_options)
            request_id = header.get("id") if isinstance(header, dict) else None
            return request_id if isinstance(request_id, (int, str)) else None
        except Exception:
            return None


def _ignore_ext(code: int, data: bytes) -> None:
    return None


@dataclass
class ReplyMessage:
    """A result or an error `{code, message, details}` for one request id."""

    id: Any
    ok: bool = True
    body: Any = None
    error: dict = field(default_factory=dict)

    def to_frames(self, encoder: Encoder) -> list:
        header = {"v": PROTOCOL_VERSION, "id": self.id, "ok": self.ok}
        if self.ok:
            header["body"] = self.body
        else:
            header["error"] = self.error
        packed, buffers = encoder.pack(header)
        return [packed, *buffers]

    @classmethod
    def from_frames(cls, frames: Sequence[Any], limits: Limits = REPLY_LIMITS) -> "ReplyMessage":
        header = _header(frames, 0, "reply", limits)
        ok = _field(header, "ok", bool, "reply")
        if ok:
            return cls(id=header.get("id"), ok=True, body=header.get("body"))
        error = _field(header, "error", dict, "reply")
        if not isinstance(error.get("code"), str) or not isinstance(error.get("message"), str):
            raise DecodeError("reply error needs string 'code' and 'message'")
        return cls(id=header.get("id"), ok=False, error=error)
