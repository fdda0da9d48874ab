"""SUB side of the bus: an Input is one topic's socket and its bounded queue of messages.

Memory is bounded in bytes (see edge.bus): an input assumes small messages until the first
big one shows its size, then lowers its HWM: in place while few messages have passed,
otherwise by reconnecting once.
"""
from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass
from typing import Optional

import zmq

from edge.bus import (ASSUMED_MESSAGE_BYTES, QUEUE_BYTES, RECONNECT_MS, has_data, headroom,
                      hwm_for, lower_rcvhwm, recv_frames)
from edge.config import OVERFLOW, TRANSPORTS
from edge.endpoints import close_socket, connect
from edge.errors import InvalidArgument
from edge.memory.shm import SHM_SUFFIX, ShmReader
from edge.ratelimit import RateLimitedLog
from messages import DecodeError, Limits, StreamMessage
from messages.codec import STREAM_LIMITS
from messages.shm import ShmFrame

log = logging.getLogger("edge.bus")
_NOBLOCK = int(zmq.NOBLOCK)


@dataclass
class InputStats:
    received: int = 0        # messages delivered to the node
    dropped: int = 0         # never delivered: drained by the queue policy or lost upstream
    drained: int = 0         # part of `dropped`: discarded here to keep only the newest
    stale: int = 0           # part of `dropped`: older than max_age_s when their turn came
    overwritten: int = 0     # part of `dropped`: shm frames reused by the publisher before read
    decode_errors: int = 0   # malformed messages, dropped
    handler_errors: int = 0  # callbacks (Node.spin) that raised on this input's events

    def as_dict(self) -> dict:
        return dict(received=self.received, dropped=self.dropped, drained=self.drained,
                    stale=self.stale, overwritten=self.overwritten,
                    decode_errors=self.decode_errors, handler_errors=self.handler_errors)


MAX_SEQ_GAP = 1 << 32  # a larger jump is a restarted or lying publisher, not drops
CLOCK_SKEW_AFTER_S = 5.0  # messages all older than max_age_s this long: the clocks differ


class Input:
    """A SUB socket for one topic with a bounded queue of the newest messages.

    ZMQ_CONFLATE does not work with multipart messages, so latest-only (queue_size=1)
    drains the socket and keeps the newest. Drops are seq gaps between delivered
    messages: both those drained here and those lost upstream (HWM, reconnects).
    `max_age_s` (default: 1 s for latest-only, off for queues) skips messages published
    longer ago than that, so a reader that stalled gets the newest frame, not a backlog.
    """

    def __init__(self, context: zmq.Context, name: str, topic: str, endpoint: str, *,
                 queue_size: int = 1, limits: Limits = STREAM_LIMITS,
                 queue_bytes: int = QUEUE_BYTES, max_age_s: Optional[float] = None,
                 server_key: str | None = None, transport: str = "zmq",
                 overflow: str = "drop_oldest"):
        if queue_size < 1:
            raise ValueError(f"input {name!r}: queue_size must be >= 1, got {queue_size}")
        if overflow not in OVERFLOW:
            raise ValueError(f"input {name!r}: overflow must be one of {', '.join(OVERFLOW)}, "
                             f"got {overflow!r}")
        self._refuse = overflow == "drop_newest"
        if transport not in TRANSPORTS:
            raise ValueError(f"input {name!r}: transport must be one of {', '.join(TRANSPORTS)}, "
                             f"got {transport!r}")
        self.name, self.topic, self.endpoint = name, topic, endpoint
        # shm only where the publisher is on this host by construction (ipc); tcp gets copies.
        # auto and shm read alike: the publisher's output decides what goes by shared memory.
        local = endpoint.startswith("ipc://")
        self._shm = ShmReader() if transport != "zmq" and local else None
        self._topic_bytes = (topic + SHM_SUFFIX if self._shm else topic).encode()
        self._limits, self.queue_size, self.queue_bytes = limits, queue_size, queue_bytes
        if max_age_s is None:
            max_age_s = 1.0 if queue_size == 1 else 0.0
        self._max_age_ns = int(max_age_s * 1e9) if max_age_s > 0 else 0
        self._sized_for = ASSUMED_MESSAGE_BYTES
        self.hwm = self._hwm()
        self._read = 0  # messages read from this connection: whether a new HWM can apply in place
        self.socket = context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVHWM, self.hwm)
        self.socket.setsockopt(zmq.MAXMSGSIZE, limits.max_frame_bytes)
        self.socket.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
        self.socket.setsockopt(zmq.SUBSCRIBE, self._topic_bytes)
        try:
            connect(self.socket, endpoint, server_key)
        except InvalidArgument:
            self.socket.close(linger=0)
            raise
        self.queue: collections.deque = collections.deque(maxlen=self._queue_len())
        self.unread = False  # the socket may hold more than a drain read (see drain)
        self.stats = InputStats()
        self.warnings = RateLimitedLog(log, per_interval=3)
        self._last: tuple[str, int] | None = None  # (source, seq) of the last delivered message
        self._unreported_drops = 0
        self._clock_offset_ns = 0  # publisher clock minus ours, learnt only if ages stay too high
        self._stale_since: Optional[float] = None

    def _queue_len(self) -> int:
        return max(1, min(self.queue_size, self.queue_bytes // self._sized_for))

    def _hwm(self) -> int:
        """Latest-only takes all the budget allows, so each drain reaches the newest message
        (a small HWM would leave the backlog in the publisher, delivered in order). A queue
        takes no more than it keeps, which also bounds a reader that stalls before it has
        seen one big message: queue_size of them."""
        hwm = hwm_for(self.queue_bytes, self._sized_for)
        return hwm if self.queue_size == 1 else min(self.queue_size, hwm)

    def drain(self, readable: bool = False) -> None:
        """Move what the socket holds into the queue (`readable`: a poll just said it has data).

        drop_oldest (default): read everything and keep the newest queue_size, so what the
        node sees is never older than its queue. drop_newest: stop reading once the queue is
        full and let zmq refuse what arrives beyond its HWM; cheaper under a flood (nothing
        discarded passes through Python), but the backlog can be up to the HWM old.

        A queue (queue_size > 1) that a poll woke with nothing queued reads only the message
        the poll announced: the node gets it without first asking the socket for more (an
        EVENTS read, a system call on the latency path), and `unread` has the node drain the
        rest before it waits again. Latest-only always reads everything: it hands over the
        newest.
        """
        socket, queue, topic, refuse = self.socket, self.queue, self._topic_bytes, self._refuse
        first_only = readable and not queue and self.queue_size > 1
        self.unread = False
        # EVENTS before each read instead of a read failing with zmq.Again at the end (~5 us);
        # none before the first read when a poll just reported data (it could only be wrong
        # after a spurious wake-up). At most what the socket and the queue held when we
        # started: a publisher faster than this loop must not keep it here (the node would
        # starve its other inputs and service).
        budget = self.hwm + queue.maxlen
        while readable or has_data(socket):
            if refuse and len(queue) == queue.maxlen or budget == 0:
                return
            budget -= 1
            readable = False
            try:
                frames = recv_frames(socket, _NOBLOCK)  # the parts of a message arrive together
            except zmq.Again:  # the poll's wake-up was spurious
                continue
            self._read += 1
            if frames[0].bytes != topic:  # SUBSCRIBE matches prefixes only
                continue
            if len(queue) == queue.maxlen:
                self.stats.drained += 1
            queue.append(frames)
            size = sum(map(len, frames))
            if size > self._sized_for:
                queue = self._resize(size)
            if first_only:
                self.unread = True
                return

    def _resize(self, message_bytes: int) -> collections.deque:
        """Bigger messages than assumed: fewer fit the budget, in the queue and in the pipe."""
        self._sized_for = headroom(message_bytes)
        self.queue = collections.deque(self.queue, maxlen=self._queue_len())
        hwm = self._hwm()
        if hwm < self.hwm:
            self.hwm = hwm
            if lower_rcvhwm(self.socket, self.endpoint, hwm, self._read):
                self._read = 0
        return self.queue

    def pop(self) -> Optional[StreamMessage]:
        """Decode and return the oldest queued message; bad and stale ones are counted, skipped."""
        while self.queue:
            frames = self.queue.popleft()
            try:
                message = StreamMessage.from_frames(frames, self._limits)
            except DecodeError as exc:
                self.stats.decode_errors += 1
                self.warnings.warning("input %r (%s): dropped malformed message: %s",
                                      self.name, self.topic, exc)
                continue
            except Exception as exc:  # a decoder bug: keep the node alive, show the traceback
                self.stats.decode_errors += 1
                self.warnings.warning("input %r (%s): decoding failed: %r", self.name, self.topic,
                                      exc, exc_info=exc)
                continue
            if self._max_age_ns and self._is_stale(message.pub_ns):
                self.stats.stale += 1
                self._count(message, delivered=False)
                continue
            if self._shm is not None and not self._map_shm(message):
                continue
            self._count(message, delivered=True)
            return message
        return None

    def _is_stale(self, pub_ns: int) -> bool:
        age_ns = time.time_ns() - pub_ns - self._clock_offset_ns
        if age_ns <= self._max_age_ns:
            self._stale_since = None
            return False
        now = time.monotonic()
        if self._stale_since is None:
            self._stale_since = now
        elif now - self._stale_since > max(CLOCK_SKEW_AFTER_S, 5 * self._max_age_ns / 1e9):
            # Everything has looked old for much longer than a backlog takes: the clocks differ.
            self._clock_offset_ns += age_ns
            self._stale_since = None
            return False
        return True

    def _map_shm(self, message: StreamMessage) -> bool:
        """Replace a ShmFrame by its read-only view; False if it cannot be delivered.

        A frame reused before we got here is a drop (`overwritten`, and a seq gap); one that
        cannot be mapped (its publisher is gone, or it lies about its segment) is malformed.
        """
        message.topic = self.topic
        if not isinstance(message.value, ShmFrame):
            return True  # a value published without a loan travels as usual
        try:
            view = self._shm.view(message.value)
        except OSError as exc:
            self.stats.decode_errors += 1
            self.warnings.warning("input %r (%s): shared-memory frame unavailable: %s",
                                  self.name, self.topic, exc)
            return False
        if view is None:
            self.stats.overwritten += 1
            return False
        message.value = view
        return True

    def _count(self, message: StreamMessage, delivered: bool) -> None:
        last = self._last
        step = message.seq - last[1] if last is not None and last[0] == message.source else 0
        gap = step - 1 if 0 < step <= MAX_SEQ_GAP else 0
        if delivered:
            self.stats.received += 1
        else:
            gap += 1  # skipped as stale: dropped too
        self.stats.dropped += gap
        self._unreported_drops += gap
        self._last = (message.source, message.seq)

    def take_drops(self) -> int:
        """Drops since the previous call (reported on the next event of this input)."""
        drops, self._unreported_drops = self._unreported_drops, 0
        return drops

    def close(self) -> None:
        close_socket(self.socket)
        if self._shm is not None:
            self._shm.close()
