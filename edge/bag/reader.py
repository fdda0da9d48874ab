"""Read an MCAP file written by edge.bag: values decoded exactly as a subscriber gets them."""
from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional

from mcap.exceptions import EndOfFile, McapError
from mcap.reader import NonSeekingReader, make_reader

from edge.bag.layout import MESSAGE_ENCODING, unpack_frames
from messages import DecodeError, Limits, StreamMessage
from messages.codec import DEFAULT_LIMITS


log = logging.getLogger("edge.bag")


class BagError(DecodeError):
    """A file that is not a readable edge recording; the message names the file."""


@dataclass
class BagMessage:
    """One recorded message: when it was recorded, its frames and its decoded form."""

    topic: str
    log_time_ns: int
    frames: list          # [header, *buffers] as on the wire (read-only views)
    message: StreamMessage

    @property
    def value(self) -> Any:
        return self.message.value


def read_messages(path: str, topics: Optional[Iterable[str]] = None, *,
                  limits: Limits = DEFAULT_LIMITS) -> Iterator[BagMessage]:
    """Every edge message in file order (optionally only some topics). The recorder
    writes in log-time order; file order keeps memory bounded for unchunked files.

    Channels with another message encoding are skipped; a malformed message raises
    BagError (a DecodeError) naming the file, the topic and the log time. A file cut short
    (a recorder that was killed) yields the messages before the cut, with a warning.
    """
    wanted = list(topics) if topics is not None else None
    with _open(path) as stream:
        try:
            for _, channel, record in _records(path, stream, wanted):
                if channel.message_encoding == MESSAGE_ENCODING:
                    yield _decode(path, channel.topic, record.log_time, record.data, limits)
        except (McapError, struct.error, EOFError, ValueError) as exc:
            if isinstance(exc, BagError):
                raise
            raise BagError(f"{path}: not a readable MCAP file ({type(exc).__name__}: {exc})") from None


def _records(path: str, stream, topics: Optional[list]) -> Iterator[tuple]:
    """(schema, channel, message record) from the index when the file is complete, else by
    streaming the records up to where the file ends."""
    stream.seek(0)
    reader = make_reader(stream)
    try:
        reader.get_summary()
    except McapError:   # no valid footer: stream the records up to where the file ends
        stream.seek(0)
        count = 0
        try:
            for item in NonSeekingReader(stream).iter_messages(topics, log_time_order=False):
                count += 1
                yield item
        except EndOfFile:
            log.warning("%s ends early (recording interrupted?): read %d message(s)", path, count)
        return
    yield from reader.iter_messages(topics=topics, log_time_order=False)


def read(path: str, topics: Optional[Iterable[str]] = None) -> Iterator[tuple[str, int, Any]]:
    """(topic, log_time_ns, value) for every message, in file order."""
    for item in read_messages(path, topics):
        yield item.topic, item.log_time_ns, item.value


def _decode(path: str, topic: str, log_time_ns: int, data: bytes, limits: Limits) -> BagMessage:
    try:
        frames = unpack_frames(data)
        message = StreamMessage.from_frames([topic.encode(), *frames], limits)
    except DecodeError as exc:
        raise BagError(f"{path}: message on {topic!r} at log time {log_time_ns}: {exc}") from None
    return BagMessage(topic, log_time_ns, frames, message)


def _open(path: str):
    try:
        return open(path, "rb")
    except OSError as exc:
        raise BagError(f"cannot open {path}: {exc.strerror}") from None


def recorded_topics(path: str) -> list[str]:
    """The edge topics a file holds, from its summary (or a pass over it if it has none)."""
    with _open(path) as stream:
        try:
            summary = make_reader(stream).get_summary()
        except (McapError, struct.error, EOFError, ValueError) as exc:
            raise BagError(f"{path}: not a readable MCAP file ({type(exc).__name__}: {exc})") from None
    if summary is None:
        return sorted({item.topic for item in read_messages(path)})
    return sorted({c.topic for c in summary.channels.values() if c.message_encoding == MESSAGE_ENCODING})
