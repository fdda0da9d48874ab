"""One fuzz target per receiving socket type, and one for recordings: bytes in,
DecodeError or a value out.

A socket target's input is split into frames (see `frames_from_bytes`), so one byte string
can hold a whole multipart message; `seeds()` gives valid messages of every kind in the
same form. The bag target's input is an MCAP file. Any exception other than DecodeError,
any hang, and any read of more than the reader's bound is a bug.
"""
from __future__ import annotations

import io
import struct
import tempfile
from pathlib import Path
from typing import Callable

import msgpack
import numpy as np

from messages import (Classification, DecodeError, Detections, Dim, Image, ModelInfo,
                      ModelMetadata, ReplyMessage, RequestMessage, Stats, StreamMessage,
                      TensorMap, TensorSpec, Text, new_encoder,
                      new_stream_encoder)
from messages.codec import STREAM_LIMITS

MAX_FRAMES = 6


def frames_from_bytes(data: bytes) -> list[bytes]:
    """First byte: frame count - 1 (mod MAX_FRAMES); then a u16 length before each frame but
    the last, which takes the rest."""
    if not data:
        return []
    count, pos, frames = data[0] % MAX_FRAMES + 1, 1, []
    for _ in range(count - 1):
        (length,) = struct.unpack_from("<H", data, pos) if pos + 2 <= len(data) else (0,)
        pos += 2
        frames.append(data[pos:pos + length])
        pos += length
    frames.append(data[pos:])
    return frames


def bytes_from_frames(frames: list) -> bytes:
    parts = [bytes([len(frames) - 1])]
    for frame in frames[:-1]:
        frame = bytes(memoryview(frame).cast("B"))
        parts.append(struct.pack("<H", len(frame)) + frame)
    parts.append(bytes(memoryview(frames[-1]).cast("B")))
    return b"".join(parts)


def decode_stream(data: bytes) -> None:
    try:
        StreamMessage.from_frames(frames_from_bytes(data))
    except DecodeError:
        pass


def decode_request(data: bytes) -> None:
    frames = frames_from_bytes(data)
    try:
        RequestMessage.from_frames(frames)
    except DecodeError:
        if frames:
            RequestMessage.peek_id(frames)  # what a service does with a bad request


def decode_reply(data: bytes) -> None:
    try:
        ReplyMessage.from_frames(frames_from_bytes(data))
    except DecodeError:
        pass


BAG_MAX_BYTES = 1 << 20  # the bag target's record bound: a fuzz input cannot ask for more


def read_bag(data: bytes) -> None:
    from edge.bag.reader import _decode
    from edge.bag.records import Records
    try:
        for _, channel, record in Records("fuzz.mcap", io.BytesIO(data), BAG_MAX_BYTES).messages():
            _decode("fuzz.mcap", channel.topic, record.log_time, record.data, STREAM_LIMITS)
    except DecodeError:
        pass


FRAME_TARGETS: dict[str, Callable[[bytes], None]] = {
    "stream": decode_stream, "request": decode_request, "reply": decode_reply}
TARGETS: dict[str, Callable[[bytes], None]] = {**FRAME_TARGETS, "bag": read_bag}


def _values() -> list:
    boxes = np.zeros((2, 4), np.float32)
    spec = TensorSpec("x", "float32", [Dim(None, "batch", True), Dim(3)])
    return [
        Image(np.zeros((2, 3, 3), np.uint8)), Image(np.zeros((1, 1, 1), np.uint8), "mono8", 7),
        Detections(boxes, np.ones(2, np.float32), np.arange(2, dtype=np.int32), ["a", "b"],
                   np.zeros((2, 3, 2), np.float32), 3),
        Text(["hi", "yo"], boxes, np.ones(2, np.float32)),
        Classification(np.arange(3, dtype=np.int32), np.ones(3, np.float32), ["a", "b", "c"]),
        TensorMap({"a": np.arange(4.0).reshape(2, 2), "b": np.array(True)}), spec, Dim(4),
        ModelInfo("uid", ModelMetadata("m", "d", "1", "me"), [spec], [spec], True),
        Stats("node", {"fps": 1.5, "n": 3}),
        {"k": [1, -2.5, "s", b"b", None, True, {"n": [np.arange(3, dtype=">i2")]}]},
        np.zeros((2, 2), np.complex64), 7, "text", [],
    ]


def seeds() -> dict[str, list[bytes]]:
    """Valid messages of every kind, as fuzz inputs per target."""
    encoder, inline = new_encoder(), new_stream_encoder()  # arrays in frames / in the header
    found: dict[str, list[bytes]] = {name: [] for name in TARGETS}
    found["bag"] = _bag_seeds(_values())
    trail = [["cam", 9, 10], ["pre", 10, 11]]
    for value in _values():
        for stream_encoder in (encoder, inline):
            message = StreamMessage("cam/image", value, 5, 10, 11, "cam")
            found["stream"].append(bytes_from_frames(message.to_frames(stream_encoder)))
            found["stream"].append(bytes_from_frames(message.to_frames_v1(stream_encoder)))
        message.trail = trail
        found["stream"].append(bytes_from_frames(message.to_frames(inline)))
        request = RequestMessage("ab:1", "forward", {"inputs": value}, 1000, 1).to_frames(encoder)
        found["request"].append(bytes_from_frames(request))
        reply = ReplyMessage("ab:1", ok=True, body=value).to_frames(encoder)
        found["reply"].append(bytes_from_frames(reply))
    big = StreamMessage("cam/image", np.zeros((48, 32, 3), np.uint8), 1, 2, 3, "cam")
    found["stream"].append(bytes_from_frames(big.to_frames(inline)))  # version 2, out of band
    error = ReplyMessage(3, ok=False, error={"code": "NOT_FOUND", "message": "m", "details": [1]})
    found["reply"].append(bytes_from_frames(error.to_frames(encoder)))
    return found


def _bag_seeds(values: list) -> list[bytes]:
    """Recordings of every value, unchunked and in lz4 and zstd chunks."""
    from edge import bag

    found = []
    with tempfile.TemporaryDirectory() as directory:
        for compression in ("none", "lz4", "zstd"):
            path = f"{directory}/{compression}.mcap"
            with bag.write(path, compression=compression) as out:
                for index, value in enumerate(values):
                    out.add(f"topic/{index % 3}", value, log_time_ns=index)
            found.append(Path(path).read_bytes())
    return found


def dictionary() -> list[bytes]:
    """libFuzzer dictionary entries: msgpack-encoded names and values a decoder branches on."""
    from dataclasses import fields

    from messages import SCHEMAS

    words = {"v", "type", "seq", "stamp_ns", "pub_ns", "src", "body", "id", "method", "ok",
             "error", "code", "message", "timeout_ms", "priority", "names", "formats", "offsets",
             ",", "<f4\n", "|O", "<U1", "|V8", "f4,i4", "<f4", "|u1", "float32", "bgr8"}
    for name, schema in SCHEMAS.items():
        words.add(name)
        words.update(f.name for f in fields(schema))
    entries = [msgpack.packb(word) for word in sorted(words)]
    entries += [msgpack.packb(n) for n in (2**63, 2**64 - 1, -1, -2**63, 2**31, 0.5, float("inf"))]
    entries += [b"\xd6\xff\x00\x00\x00\x01", b"\xc7\x09\x01", b"\xd4\x02\x00", b"\x91" * 8,
                b"\xc7\x0c\x02\x07\x92", b"\xd8\x02"]  # ext 8 / fixext 16 of code 2: inline arrays
    # Version 2 stream headers: the version and flag bytes, dtypes with their length byte.
    entries += [b"\x02\x00", b"\x02\x01", b"\x02\x02", b"\x02\x06", b"\x02\x07", b"\x03<f4",
                b"\x03|u1", b"\x03|O", b"\xff\xff\xff\xff\xff\xff\xff\x7f"]
    return entries
