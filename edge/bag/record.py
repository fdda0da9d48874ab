"""`edge bag record`: join a running graph like an ad-hoc script and write what it publishes.

One SUB socket connects to every publisher endpoint of the chosen topics. Each message is
checked (StreamMessage.from_frames), then its frames go to the file as received. Drops are
seq gaps per (topic, source): counted, shown in the progress line and in the summary.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

import zmq

from edge.bag.writer import BagWriter
from edge.endpoints import close_socket
from edge.errors import InvalidArgument
from edge.launch.control import ControlClient
from edge.signals import StopSignals
from messages import DecodeError, StreamMessage

RECEIVE_HWM = 1000        # messages queued in the recorder's socket before the publisher drops
POLL_MS = 100


@dataclass
class RecordStats:
    messages: int = 0
    bytes: int = 0
    dropped: int = 0            # seq gaps: published, never received
    decode_errors: int = 0      # malformed messages, not written
    per_topic: dict = field(default_factory=dict)   # topic -> messages
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        elapsed_s = max(time.monotonic() - self.started, 1e-9)
        return (f"{self.messages} msgs  {self.bytes / 1e6:.1f} MB  "
                f"{self.messages / elapsed_s:.1f} msg/s  {self.bytes / 1e6 / elapsed_s:.1f} MB/s  "
                f"dropped {self.dropped}" + (f"  malformed {self.decode_errors}"
                                             if self.decode_errors else ""))


def resolve_topics(control: Optional[str], topics: Iterable[str], all_topics: bool) -> dict:
    """topic -> publisher endpoint, from the running graph's control endpoint."""
    with ControlClient(control) as graph:
        if all_topics:
            return {row["topic"]: row["endpoint"] for row in graph.topics() if row.get("endpoint")}
        return {topic: graph.resolve(topic)["endpoint"] for topic in topics}


class Recorder:
    """Owns one SUB socket; `run()` records until `stop()`, a signal or the duration."""

    def __init__(self, writer: BagWriter, endpoints: dict, *, context: zmq.Context | None = None,
                 hwm: int = RECEIVE_HWM, handle_signals: bool = True):
        if not endpoints:
            raise InvalidArgument("no topics to record")
        self.writer, self.endpoints = writer, dict(endpoints)
        self.stats = RecordStats()
        self._topics = {topic.encode() for topic in self.endpoints}
        self._last: dict[str, tuple[str, int]] = {}
        self._socket = (context or zmq.Context.instance()).socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.RCVHWM, hwm)
        for topic in self._topics:
            self._socket.setsockopt(zmq.SUBSCRIBE, topic)
        for endpoint in sorted(set(self.endpoints.values())):
            self._socket.connect(endpoint)
        self._stopping = False
        self._signals = StopSignals(lambda signum: self.stop(), enabled=handle_signals)

    def stop(self) -> None:
        self._stopping = True
        self._signals.wake()

    def run(self, duration_s: float | None = None,
            progress: Callable[[RecordStats], None] | None = None, progress_s: float = 0.5) -> RecordStats:
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(self._signals.wake_fd, zmq.POLLIN)
        self.stats.started = time.monotonic()
        stop_at = None if duration_s is None else self.stats.started + duration_s
        next_progress = self.stats.started + progress_s
        while not self._stopping:
            now = time.monotonic()
            if stop_at is not None and now >= stop_at:
                break
            if progress is not None and now >= next_progress:
                progress(self.stats)
                next_progress = now + progress_s
            wait_s = POLL_MS / 1000 if stop_at is None else min(POLL_MS / 1000, stop_at - now)
            if poller.poll(max(0, int(wait_s * 1000)) + 1):
                self._receive_all()
        return self.stats

    def _receive_all(self) -> None:
        """Everything the socket holds now (bounded by a batch, so stop stays responsive)."""
        for _ in range(256):
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self._record(frames, time.time_ns())

    def _record(self, frames: list, log_time_ns: int) -> None:
        if frames[0].bytes not in self._topics:  # SUBSCRIBE matches prefixes only
            return
        try:
            message = StreamMessage.from_frames(frames)
        except DecodeError:
            self.stats.decode_errors += 1
            return
        last = self._last.get(message.topic)
        if last is not None and last[0] == message.source and message.seq > last[1] + 1:
            self.stats.dropped += message.seq - last[1] - 1
        self._last[message.topic] = (message.source, message.seq)
        self.writer.add_frames(frames, log_time_ns, message)
        self.stats.messages += 1
        self.stats.bytes += sum(len(frame) for frame in frames)
        self.stats.per_topic[message.topic] = self.stats.per_topic.get(message.topic, 0) + 1

    def close(self) -> None:
        close_socket(self._socket)
        self._signals.close()
