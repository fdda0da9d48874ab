"""An MCAP file's messages, in file order, with memory bounded in bytes whatever it says.

mcap's readers trust the lengths a file states: a record may be 4 GiB, a field inside a
record is read at whatever length it claims, and an lz4 chunk inflates without limit. So
a few corrupt bytes could ask for gigabytes. Here no single read may ask for more than
`max_bytes`, a chunk must state an inflated size within it and is held to that size, the
schemas, channels and chunk indexes kept to find messages total at most `max_bytes` too,
and anything wrong with the file is a BagError naming it.
"""
from __future__ import annotations

import dataclasses
import io
import logging
from typing import Any, Iterator, Optional

from mcap.exceptions import EndOfFile
from mcap.records import Channel, Chunk, ChunkIndex, Footer, Header, Message, Schema
from mcap.stream_reader import StreamReader, breakup_chunk
from mcap.summary import Summary

from messages import DecodeError, Limits
from messages.codec import short

log = logging.getLogger("edge.bag")

CHUNK_ROOM = 8 << 20  # a chunk holds one message of the largest size and up to 4 MiB more
CHUNK_INDEX_BYTES = 64  # what a chunk index costs kept, and each of its channels' offsets
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


class Declared:
    """A file's schemas and channels by id (and a summary's chunk indexes), at most
    `max_bytes` of them together.

    Ids are 16-bit, but each record may be as large as any other: without a total a file
    could make a reader keep 65536 records of `max_bytes` each, or a summary list chunks
    without end. A record that declares an id again replaces the first."""

    def __init__(self, path: str, max_bytes: int, schemas: dict, channels: dict):
        self._path, self._max_bytes, self._bytes = path, max_bytes, 0
        self.schemas, self.channels = schemas, channels

    def add(self, record: Schema | Channel) -> None:
        table = self.channels if isinstance(record, Channel) else self.schemas
        old = table.get(record.id)
        self.hold(_declared_bytes(record) - (0 if old is None else _declared_bytes(old)))
        table[record.id] = record

    def hold(self, size: int) -> None:
        self._bytes += size
        if self._bytes > self._max_bytes:
            raise BagError(f"{self._path}: its schemas, channels and chunk indexes take more "
                           f"than {self._max_bytes} bytes")


def _declared_bytes(record: Schema | Channel) -> int:
    if isinstance(record, Schema):
        return len(record.name) + len(record.encoding) + len(record.data)
    return len(record.topic) + len(record.message_encoding) + sum(
        len(key) + len(value) for key, value in record.metadata.items())


class Records:
    """`messages()` yields (schema or None, channel, message) in file order: every record
    in one pass, or (some topics of a complete chunked file) the chunks its index lists."""

    def __init__(self, path: str, stream: Any, max_bytes: int):
        self.path, self.max_bytes = path, max_bytes
        self.header: Optional[Header] = None
        self._stream = stream
        self._reads = BoundedReads(stream, path, max_bytes)

    def messages(self, topics: Optional[list] = None) -> Iterator[tuple]:
        """Some topics of a complete chunked file: only the chunks its index says hold them.
        Otherwise one pass over every record; a file cut short (a recorder that was
        killed) yields what it holds, with a warning."""
        summary = self.summary() if topics else None
        self._stream.seek(0)
        if summary is not None and summary.chunk_indexes and all(
                index.message_index_offsets for index in summary.chunk_indexes):
            yield from self._indexed(summary, topics)
        else:
            yield from self._streamed(topics)

    def _streamed(self, topics: Optional[list]) -> Iterator[tuple]:
        declared = Declared(self.path, self.max_bytes, {}, {})
        schemas, channels = declared.schemas, declared.channels
        records, count = self._records(), 0
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
                    elif isinstance(item, (Channel, Schema)):
                        declared.add(item)
                    elif isinstance(item, Header):
                        self.header = item
        except EndOfFile:
            log.warning("%s ends early (recording interrupted?): read %d message(s)", self.path, count)

    def _indexed(self, summary: Summary, topics: list) -> Iterator[tuple]:
        wanted = {id for id, channel in summary.channels.items() if channel.topic in topics}
        for index in sorted(summary.chunk_indexes, key=lambda index: index.chunk_start_offset):
            if wanted.isdisjoint(index.message_index_offsets):
                continue
            try:
                self._parse(self._stream.seek, index.chunk_start_offset)
                chunk = self._parse(next, self._records(skip_magic=True), None)
            except EndOfFile:
                chunk = None
            if not isinstance(chunk, Chunk):
                raise BagError(f"{self.path}: no chunk at offset {index.chunk_start_offset}, "
                               "where the file's index says one is")
            for item in self._chunk_records(chunk):
                if isinstance(item, Message) and item.channel_id in wanted:
                    channel = summary.channels[item.channel_id]
                    yield summary.schemas.get(channel.schema_id), channel, item

    def summary(self) -> Optional[Summary]:
        """The file's summary section (schemas, channels, chunk indexes), through the same
        bounded reads; None for a file without one (or cut short before it)."""
        try:
            self._stream.seek(-(FOOTER_BYTES + MAGIC_BYTES), io.SEEK_END)
            footer = next(self._records(skip_magic=True))
            if not isinstance(footer, Footer) or footer.summary_start == 0:
                return None
            self._stream.seek(footer.summary_start)
            summary = Summary()
            declared = Declared(self.path, self.max_bytes, summary.schemas, summary.channels)
            for record in self._records(skip_magic=True):
                if isinstance(record, (Channel, Schema)):
                    declared.add(record)
                elif isinstance(record, ChunkIndex):
                    declared.hold(CHUNK_INDEX_BYTES * (1 + len(record.message_index_offsets)))
                    summary.chunk_indexes.append(record)
            return summary
        except BagError:
            raise
        except Exception:  # no footer where one should be, or a summary that does not parse
            return None

    def _records(self, skip_magic: bool = False) -> Iterator:
        return StreamReader(self._reads, skip_magic=skip_magic, emit_chunks=True,
                            record_size_limit=self.max_bytes).records

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
