"""Read an MCAP file written by edge.bag: values decoded exactly as a subscriber gets them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional

from edge.bag.layout import MESSAGE_ENCODING, unpack_frames
from edge.bag.records import BagError, Records, max_record_bytes
from messages import DecodeError, Limits, StreamMessage
from messages.codec import DEFAULT_LIMITS

__all__ = ["BagError", "BagMessage", "read", "read_messages", "recorded_topics"]


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
        for _, channel, record in Records(path, stream, max_record_bytes(limits)).messages(wanted):
            if channel.message_encoding == MESSAGE_ENCODING:
                yield _decode(path, channel.topic, record.log_time, record.data, limits)


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


def recorded_topics(path: str, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """The edge topics a file holds, from its summary (or a pass over it if it has none)."""
    with _open(path) as stream:
        summary = Records(path, stream, max_record_bytes(limits)).summary()
    if summary is None:
        return sorted({item.topic for item in read_messages(path, limits=limits)})
    return sorted({c.topic for c in summary.channels.values() if c.message_encoding == MESSAGE_ENCODING})
