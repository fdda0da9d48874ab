"""Write edge messages to an MCAP file: one channel per topic, the wire frames as is."""
from __future__ import annotations

import struct
import time
from dataclasses import fields
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Optional, Sequence

from mcap.opcode import Opcode
from mcap.writer import CompressionType, Writer

from edge.bag.layout import (MESSAGE_ENCODING, PROFILE, SCHEMA_ENCODING, frame_parts, pack_frames,
                             schema_name)
from messages import StreamMessage, new_encoder
from messages.schema import SCHEMAS

COMPRESSIONS = {"none": CompressionType.NONE, "lz4": CompressionType.LZ4,
                "zstd": CompressionType.ZSTD}
CHUNK_BYTES = 4 << 20
SEQUENCE_MODULO = 1 << 32  # MCAP's sequence field is u32; the header keeps the full seq
# MCAP Message record: opcode u8, record length u64, then channel u16, sequence u32,
# log_time u64, publish_time u64 and the data (https://mcap.dev/spec#message-op0x05)
_MESSAGE_RECORD = struct.Struct("<BQHIQQ")
_MESSAGE_FIELDS_BYTES = 2 + 4 + 8 + 8


def _library() -> str:
    try:
        return f"edge-runtime {version('edge-runtime')}"
    except PackageNotFoundError:
        return "edge-runtime"


class BagWriter:
    """Appends messages; `close()` writes the index and summary that readers use.

        with BagWriter("run.mcap") as bag:
            bag.add("camera/image", image)                 # encodes like a publisher
            bag.add_frames(frames, log_time_ns)             # frames as received: [topic, header, *buffers]
    """

    def __init__(self, path: str, *, compression: str = "none", chunk_bytes: int = CHUNK_BYTES):
        """compression "none" writes messages unchunked (fewest copies: the fastest way to
        keep camera frames); "lz4"/"zstd" write compressed, indexed chunks of `chunk_bytes`."""
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {sorted(COMPRESSIONS)}, got {compression!r}")
        self.path = str(path)
        self._file = open(self.path, "wb")
        self._chunked = compression != "none"
        self._mcap = Writer(self._file, chunk_size=chunk_bytes, compression=COMPRESSIONS[compression],
                            use_chunking=self._chunked)
        self._mcap.start(profile=PROFILE, library=_library())
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._encoder = new_encoder()
        self._seq: dict[str, int] = {}
        self.messages = 0
        self.bytes = 0
        self._closed = False

    def add_frames(self, frames: Sequence[Any], log_time_ns: int,
                   message: Optional[StreamMessage] = None) -> None:
        """Record one received message. `message` is its decoded form, when the caller
        has it (for the channel's schema and the record's publish time and sequence)."""
        if message is None:
            message = StreamMessage.from_frames(frames)
        channel_id = self._channel(message)
        sequence = message.seq % SEQUENCE_MODULO
        if self._chunked:
            data = pack_frames(frames[1:])
            self._mcap.add_message(channel_id, log_time=log_time_ns, data=data,
                                   publish_time=message.pub_ns, sequence=sequence)
            size = len(data)
        else:
            size = self._write_message_record(channel_id, log_time_ns, message.pub_ns, sequence, frames[1:])
        self.messages += 1
        self.bytes += size

    def _write_message_record(self, channel_id: int, log_time_ns: int, publish_time_ns: int,
                              sequence: int, frames: Sequence[Any]) -> int:
        """An MCAP Message record written straight from the frames: unchunked, the writer
        has already flushed every record before it, and big frames skip the file buffer."""
        parts = frame_parts(frames)
        body_bytes = sum(len(part) if isinstance(part, bytes) else part.nbytes for part in parts)
        self._file.write(_MESSAGE_RECORD.pack(Opcode.MESSAGE, _MESSAGE_FIELDS_BYTES + body_bytes,
                                              channel_id, sequence, log_time_ns, publish_time_ns))
        for part in parts:
            self._file.write(part)
        _count_message(self._mcap, channel_id, log_time_ns)
        return body_bytes

    def add_message(self, message: StreamMessage, log_time_ns: int) -> None:
        """Record a decoded message as its publisher sent it (headers kept, arrays bit-exact)."""
        self.add_frames(message.to_frames(self._encoder), log_time_ns, message)

    @property
    def closed(self) -> bool:
        return self._closed

    def add(self, topic: str, value: Any, *, stamp_ns: int | None = None,
            log_time_ns: int | None = None, source: str = "edge.bag") -> None:
        """Record a value as if `source` had published it now (seq counts per topic)."""
        now_ns = time.time_ns()
        seq = self._seq[topic] = self._seq.get(topic, 0) + 1
        message = StreamMessage(topic, value, seq, now_ns if stamp_ns is None else stamp_ns,
                                now_ns, source)
        frames = message.to_frames(self._encoder)
        self.add_frames(frames, now_ns if log_time_ns is None else log_time_ns, message)

    def _channel(self, message: StreamMessage) -> int:
        channel_id = self._channels.get(message.topic)
        if channel_id is None:
            type_name = getattr(message.value, "TYPE", "")
            channel_id = self._channels[message.topic] = self._mcap.register_channel(
                topic=message.topic, message_encoding=MESSAGE_ENCODING,
                schema_id=self._schema(type_name), metadata={"edge.protocol": "1"})
            if not self._chunked:
                self._mcap._Writer__flush()  # noqa: SLF001 - schema and channel before our records
        return channel_id

    def _schema(self, type_name: str) -> int:
        name = schema_name(type_name)
        schema_id = self._schemas.get(name)
        if schema_id is None:
            schema_id = self._schemas[name] = self._mcap.register_schema(
                name=name, encoding=SCHEMA_ENCODING, data=_schema_text(type_name))
        return schema_id

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._mcap.finish()
            finally:
                self._file.close()

    def __enter__(self) -> "BagWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _schema_text(type_name: str) -> bytes:
    """Schema data: the body's field names, one per line (docs/PROTOCOL.md has their types)."""
    schema = SCHEMAS.get(type_name)
    if schema is None:
        return b"any msgpack value (docs/PROTOCOL.md)\n"
    return "".join(f"{field.name}\n" for field in fields(schema)).encode()


def _count_message(writer: Writer, channel_id: int, log_time_ns: int) -> None:
    """The Statistics record counts what add_message would have. mcap 1.x keeps it in a
    private attribute (pinned <2; tests/bag checks the summary of unchunked files)."""
    stats = writer._Writer__statistics   # noqa: SLF001 - no public way to count a record we wrote
    if stats.message_count == 0:
        stats.message_start_time = log_time_ns
    stats.message_start_time = min(stats.message_start_time, log_time_ns)
    stats.message_end_time = max(stats.message_end_time, log_time_ns)
    stats.channel_message_counts[channel_id] += 1
    stats.message_count += 1
