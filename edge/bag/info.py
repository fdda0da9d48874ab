"""What a recording holds: duration, and per topic its type, count, rate, sizes, seq gaps
and how many messages carry a trail."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from edge.bag.layout import SCHEMA_PREFIX, UNTYPED_SCHEMA, carries_trail
from edge.bag.reader import _open
from edge.bag.records import Records, max_record_bytes
from messages import Limits
from messages.codec import DEFAULT_LIMITS


@dataclass
class TopicInfo:
    topic: str
    type: str = ""
    encoding: str = ""
    count: int = 0
    bytes: int = 0
    max_bytes: int = 0
    first_ns: int = 0
    last_ns: int = 0
    seq_gaps: int = 0     # messages the publisher numbered but the recording does not hold
    trails: int = 0       # messages carrying a per-hop trail (docs/PROTOCOL.md, Trail)
    _last_seq: int = field(default=-1, repr=False)

    @property
    def rate_hz(self) -> float | None:
        span_s = (self.last_ns - self.first_ns) / 1e9
        return (self.count - 1) / span_s if self.count > 1 and span_s > 0 else None

    def add(self, log_time_ns: int, size: int, sequence: int, trail: bool = False) -> None:
        self.trails += trail
        if self.count == 0:
            self.first_ns = log_time_ns
        self.count += 1
        self.bytes += size
        self.max_bytes = max(self.max_bytes, size)
        self.first_ns, self.last_ns = min(self.first_ns, log_time_ns), max(self.last_ns, log_time_ns)
        if self._last_seq >= 0 and sequence > self._last_seq + 1:
            self.seq_gaps += sequence - self._last_seq - 1
        self._last_seq = sequence

    def as_dict(self) -> dict:
        return {"topic": self.topic, "type": self.type, "encoding": self.encoding,
                "count": self.count, "bytes": self.bytes, "max_bytes": self.max_bytes,
                "mean_bytes": self.bytes // self.count if self.count else 0,
                "rate_hz": None if self.rate_hz is None else round(self.rate_hz, 2),
                "seq_gaps": self.seq_gaps, "trails": self.trails}


def bag_info(path: str, limits: Limits = DEFAULT_LIMITS) -> dict:
    """One pass over the file's records (values are not decoded)."""
    topics: dict[int, TopicInfo] = {}
    with _open(path) as stream:
        records = Records(path, stream, max_record_bytes(limits))
        for schema, channel, record in records.messages():
            info = topics.get(channel.id)
            if info is None:
                info = topics[channel.id] = TopicInfo(
                    channel.topic, _type_name(schema.name if schema else ""),
                    channel.message_encoding)
            info.add(record.log_time, len(record.data), record.sequence,
                     carries_trail(record.data))
    rows = sorted(topics.values(), key=lambda t: t.topic)
    start_ns = min((t.first_ns for t in rows), default=0)
    end_ns = max((t.last_ns for t in rows), default=0)
    library = records.header.library if records.header else ""
    return {"path": str(path), "file_bytes": os.path.getsize(path), "library": library,
            "start_ns": start_ns, "end_ns": end_ns, "duration_s": (end_ns - start_ns) / 1e9,
            "messages": sum(t.count for t in rows), "topics": [t.as_dict() for t in rows]}


def _type_name(schema: str) -> str:
    if schema == UNTYPED_SCHEMA:
        return "-"
    return schema[len(SCHEMA_PREFIX):] if schema.startswith(SCHEMA_PREFIX) else schema or "-"
