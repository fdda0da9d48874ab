"""An MCAP file's records in file order, with memory bounded in bytes whatever it says.

mcap's readers trust the lengths a file states: a record may be 4 GiB, a field inside a
record is read at whatever length it claims, and an lz4 chunk inflates without limit. So
a few corrupt bytes could ask for gigabytes. Here no single read may ask for more than
`max_bytes`, a chunk must state an inflated size within it and is held to that size, and
anything wrong with the file is a BagError naming it.
"""
from __future__ import annotations

import dataclasses
import io
import logging
from typing import Any, Iterator, Optional

from mcap.exceptions import EndOfFile
from mcap.records import Channel, Chunk, Footer, Header, Message, Schema
from mcap.stream_reader import StreamReader, breakup_chunk

from messages import DecodeError, Limits
from messages.codec import short

log = logging.getLogger("edge.bag")

CHUNK_ROOM = 8 << 20  # a chunk holds one message of the largest size and up to 4 MiB more
FOOTER_BYTES, MAGIC_BYTES = 29, 8  # a Footer record (opcode, length, 3 fields); the magic


class BagError(DecodeError):
    """A file that is not a readable edge recording; the message names the file."""


def max_record_bytes(limits: Limits) -> int:
    """The largest record (or inflated chunk) a reader with `limits` accepts."""
    return limits.max_total_bytes + CHUNK_ROOM


class BoundedReads:
    """What mcap reads a file through: a read of more than `max_bytes` is a BagError
    (a file object would first allocate the size asked for)."""

    def __init__(self, stream: Any, path: str, max_bytes: int):
        self._stream, self._path, self._max_bytes = stream, path, max_bytes

    def read(self, size: int = -1) -> bytes:
        if not 0 <= size <= self._max_bytes:
            raise BagError(f"{self._path}: a record claims {size} bytes, limit {self._max_bytes}")
        return self._stream.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()


class Records:
    """One pass over a file: `messages()` yields (schema or None, channel, message)."""

    def __init__(self, path: str, stream: Any, max_bytes: int):
        self.path, self.max_bytes = path, max_bytes
        self.header: Optional[Header] = None
        self._reader = StreamReader(BoundedReads(stream, path, max_bytes), emit_chunks=True,
                                    record_size_limit=max_bytes)

    def messages(self, topics: Optional[list] = None) -> Iterator[tuple]:
        """A file cut short (a recorder that was killed) yields what it holds, with a warning."""
        schemas: dict[int, Schema] = {}
        channels: dict[int, Channel] = {}
        records, count = self._reader.records, 0
        try:
            while (record := self._parse(next, records, None)) is not None:
                inner = self._chunk_records(record) if isinstance(record, Chunk) else (record,)
                for item in inner:
                    if isinstance(item, Message):
                        channel = channels.get(item.channel_id)
                        if channel is None:
                            raise BagError(f"{self.path}: a message on channel {item.channel_id}, "
                                           "which the file never declared")
                        if topics is None or channel.topic in topics:
                            count += 1
                            yield schemas.get(channel.schema_id), channel, item
                    elif isinstance(item, Channel):
                        channels[item.id] = item
                    elif isinstance(item, Schema):
                        schemas[item.id] = item
                    elif isinstance(item, Header):
                        self.header = item
        except EndOfFile:
            log.warning("%s ends early (recording interrupted?): read %d message(s)", self.path, count)

    def _chunk_records(self, chunk: Chunk) -> list:
        plain = dataclasses.replace(chunk, compression="", data=self._inflate(chunk))
        try:
            return self._parse(breakup_chunk, plain)
        except EndOfFile:  # the chunk is whole: a record in it runs past its end
            raise BagError(f"{self.path}: a chunk's records run past its end") from None

    def _inflate(self, chunk: Chunk) -> bytes:
        size, data = chunk.uncompressed_size, chunk.data
        if size > self.max_bytes:
            raise BagError(f"{self.path}: a chunk states {size} bytes inflated, "
                           f"limit {self.max_bytes}")
        if chunk.compression == "":
            return data
        if chunk.compression == "zstd":
            import zstandard  # mcap's own dependencies, as for writing
            if self._parse(zstandard.frame_content_size, data) > size:  # what zstd allocates
                raise BagError(f"{self.path}: a zstd chunk holds more than the {size} bytes it states")
            return self._parse(zstandard.ZstdDecompressor().decompress, data, max_output_size=size)
        if chunk.compression == "lz4":
            import lz4.frame
            inflater = lz4.frame.LZ4FrameDecompressor()
            inflated = self._parse(inflater.decompress, data, max_length=size)
            if not inflater.eof:
                raise BagError(f"{self.path}: an lz4 chunk holds more than the {size} bytes it states")
            return inflated
        raise BagError(f"{self.path}: a chunk has unknown compression {short(chunk.compression)}")

    def _parse(self, parse, *args, **kwargs) -> Any:
        """`parse(*args)`: the mcap library (or a decompressor) on bytes from the file."""
        try:
            return parse(*args, **kwargs)
        except (BagError, EndOfFile):
            raise
        except Exception as exc:  # they raise many types for corrupt input
            raise BagError(f"{self.path}: not a readable MCAP file "
                           f"({type(exc).__name__}: {short(exc)})") from None


def summary_topics(path: str, stream: Any, max_bytes: int, encoding: str) -> Optional[set]:
    """The topics of the channels with `encoding` that the file's summary lists; None for
    a file without a summary (or cut short before it)."""
    reads = BoundedReads(stream, path, max_bytes)

    def records() -> Iterator:
        return StreamReader(reads, skip_magic=True, emit_chunks=True,
                            record_size_limit=max_bytes).records

    def read() -> Optional[set]:
        stream.seek(-(FOOTER_BYTES + MAGIC_BYTES), io.SEEK_END)
        footer = next(records())
        if not isinstance(footer, Footer) or footer.summary_start == 0:
            return None
        stream.seek(footer.summary_start)
        return {r.topic for r in records() if isinstance(r, Channel) and r.message_encoding == encoding}

    try:
        return read()
    except BagError:
        raise
    except Exception:  # no footer where one should be, or a summary that does not parse
        return None
