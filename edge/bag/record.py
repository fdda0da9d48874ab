"""`edge bag record`: join a running graph like an ad-hoc script and write what it publishes.

One SUB socket per publisher endpoint of the chosen topics, each bounded in bytes like an
input of the bus (edge.bus): HWM 1000 until a message shows its size, then
queue_bytes / size, with a reconnect so the new pipe takes it (messages lost then are seq
gaps, so counted). Each message is checked (StreamMessage.from_frames), then its frames go
to the file as received. Drops are seq gaps per (topic, source): counted, shown in the
progress line and in the summary.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

import zmq

from edge.bag.writer import BagWriter
from edge.bus import (ASSUMED_MESSAGE_BYTES, QUEUE_BYTES, RECONNECT_MS, headroom, hwm_for,
                      lower_rcvhwm)
from edge.endpoints import close_socket, connect
from edge.errors import InvalidArgument
from edge.launch.control import ControlClient
from edge.signals import StopSignals
from messages import DecodeError, StreamMessage
from messages.codec import STREAM_LIMITS

POLL_MS = 100
BATCH = 256               # messages read from one socket before the others get a turn


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


class _Subscription:
    """One SUB socket on one publisher endpoint, holding at most `queue_bytes`."""

    def __init__(self, context: zmq.Context, endpoint: str, topics: Iterable[bytes],
                 queue_bytes: int):
        self.endpoint, self.queue_bytes = endpoint, queue_bytes
        self.sized_for = ASSUMED_MESSAGE_BYTES
        self.hwm = hwm_for(queue_bytes, self.sized_for)
        self.received = 0  # on this connection: whether a new HWM can apply in place
        self.socket = context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVHWM, self.hwm)
        self.socket.setsockopt(zmq.MAXMSGSIZE, STREAM_LIMITS.max_frame_bytes)
        self.socket.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
        for topic in topics:
            self.socket.setsockopt(zmq.SUBSCRIBE, topic)
        connect(self.socket, endpoint)  # CURVE on tcp (edge.security)

    def saw(self, message_bytes: int) -> None:
        """Count a message; a bigger one than assumed lowers the HWM (as edge.inputs.Input)."""
        self.received += 1
        if message_bytes <= self.sized_for:
            return
        self.sized_for = headroom(message_bytes)
        hwm = hwm_for(self.queue_bytes, self.sized_for)
        if hwm < self.hwm:
            self.hwm = hwm
            if lower_rcvhwm(self.socket, self.endpoint, hwm, self.received):
                self.received = 0

    def close(self) -> None:
        close_socket(self.socket)


class Recorder:
    """Owns one SUB socket per endpoint; `run()` records until `stop()`, a signal or the
    duration. `queue_bytes` bounds what each socket holds (default 64 MiB, as for inputs)."""

    def __init__(self, writer: BagWriter, endpoints: dict, *, context: zmq.Context | None = None,
                 queue_bytes: int = QUEUE_BYTES, handle_signals: bool = True):
        if not endpoints:
            raise InvalidArgument("no topics to record")
        if queue_bytes < 1:
            raise InvalidArgument(f"queue_bytes must be >= 1, got {queue_bytes}")
        self.writer, self.endpoints = writer, dict(endpoints)
        self.stats = RecordStats()
        self._topics = {topic.encode() for topic in self.endpoints}
        self._last: dict[str, tuple[str, int]] = {}
        context = context or zmq.Context.instance()
        self._subscriptions: list[_Subscription] = []
        try:
            for endpoint in sorted(set(self.endpoints.values())):
                topics = [t.encode() for t, e in self.endpoints.items() if e == endpoint]
                self._subscriptions.append(_Subscription(context, endpoint, topics, queue_bytes))
        except BaseException:
            self._close_sockets()
            raise
        self._stopping = False
        self._signals = StopSignals(lambda signum: self.stop(), enabled=handle_signals)

    def stop(self) -> None:
        self._stopping = True
        self._signals.wake()

    def run(self, duration_s: float | None = None,
            progress: Callable[[RecordStats], None] | None = None, progress_s: float = 0.5) -> RecordStats:
        poller = zmq.Poller()
        for subscription in self._subscriptions:
            poller.register(subscription.socket, zmq.POLLIN)
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
            ready = dict(poller.poll(max(0, int(wait_s * 1000)) + 1))
            for subscription in self._subscriptions:
                if subscription.socket in ready:
                    self._receive_all(subscription)
        return self.stats

    def _receive_all(self, subscription: _Subscription) -> None:
        """What one socket holds now (bounded by a batch, so stop stays responsive)."""
        for _ in range(BATCH):
            try:
                frames = subscription.socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self._record(frames, time.time_ns(), subscription)

    def _record(self, frames: list, log_time_ns: int, subscription: _Subscription) -> None:
        size = sum(len(frame) for frame in frames)
        subscription.saw(size)
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
        self.stats.bytes += size
        self.stats.per_topic[message.topic] = self.stats.per_topic.get(message.topic, 0) + 1

    def _close_sockets(self) -> None:
        for subscription in self._subscriptions:
            subscription.close()

    def close(self) -> None:
        self._close_sockets()
        self._signals.close()
