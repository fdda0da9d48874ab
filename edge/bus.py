"""PUB/SUB transport: publishers bind, subscribers connect, topics match exactly.

Memory is bounded in bytes. ZeroMQ's high-water marks count messages and are fixed when a
pipe (one per peer) is created, so each side assumes small messages until the first big
one shows its size, then picks HWM = budget / size and re-creates its pipes once: the
publisher rebinds (subscribers reconnect by themselves), an input reconnects.
"""
from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import zmq

from edge.endpoints import bind, close_socket, connect, remove_ipc
from edge.errors import InvalidArgument
from edge.memory.shm import SHM_SUFFIX, ShmReader
from edge.ratelimit import RateLimitedLog
from messages import DecodeError, Limits, Schema, StreamMessage, new_stream_encoder, stream
from messages.codec import STREAM_LIMITS
from messages.trail import extend as extend_trail

from messages.shm import ShmFrame

log = logging.getLogger("edge.bus")

_SNDMORE, _NOBLOCK = int(zmq.SNDMORE), int(zmq.NOBLOCK)  # plain ints: enum arithmetic costs µs
_send = zmq.backend.Socket.send  # the Cython send, without pyzmq's Python wrapper (~0.4 µs a frame)
_EVENTS, _POLLIN = int(zmq.EVENTS), int(zmq.POLLIN)
_get = zmq.backend.Socket.get  # the Cython getsockopt: an int, not pyzmq's enum (~1 us less)


def has_data(socket: zmq.Socket) -> bool:
    """Whether a socket has a message to read (ZMQ_EVENTS), at the cost of one C call."""
    return bool(_get(socket, _EVENTS) & _POLLIN)
OVERFLOW = ("drop_oldest", "drop_newest")
TRANSPORTS = ("auto", "zmq", "shm")
ZERO_COPY_MIN_BYTES = 1 << 16  # smaller frames are cheaper copied than tracked (pyzmq's own rule)

DEFAULT_HWM = 1000  # ZeroMQ's default and our ceiling; far smaller HWMs drop messages even for a
#                   peer that keeps up, because the publisher learns of reads in batches of HWM/2
QUEUE_BYTES = 64 << 20  # default budget of one subscriber's queue, on each side
ASSUMED_MESSAGE_BYTES = 64 << 10  # until the first message shows its size
REBIND_LINGER_MS = 1000  # the old socket may still flush this long after a rebind
REBIND_WAIT_S = 1.0
RECONNECT_MS = 10  # inputs come back this soon after a publisher rebinds (ZeroMQ's default: 100)


def hwm_for(queue_bytes: int, message_bytes: int) -> int:
    """Messages of `message_bytes` that fit a `queue_bytes` budget (1 .. DEFAULT_HWM)."""
    return max(1, min(DEFAULT_HWM, queue_bytes // max(1, message_bytes)))


def headroom(message_bytes: int) -> int:
    return message_bytes + message_bytes // 4  # so slowly growing sizes do not resize every time


def send_frames(socket: zmq.Socket, frames: list) -> int:
    """send_multipart without its per-frame overhead: small frames copied, large ones not.

    Returns the message's size in bytes."""
    last, size = len(frames) - 1, 0
    for index, frame in enumerate(frames):
        if type(frame) is np.ndarray:
            nbytes = frame.nbytes
            _send(socket, frame, _SNDMORE if index < last else 0, nbytes < ZERO_COPY_MIN_BYTES)
        else:
            nbytes = len(frame)
            _send(socket, frame, _SNDMORE if index < last else 0, True)
        size += nbytes
    return size


class Publisher:
    """One bound PUB socket; any number of topics, each with its own sequence number.

    `queue_bytes` bounds what the socket holds for each subscriber: a stalled one costs at
    most that, and the others are not slowed (PUB drops for the full pipe only).
    """

    def __init__(self, context: zmq.Context, endpoint: str, *, source: str,
                 queue_bytes: int = QUEUE_BYTES, message_bytes: int = ASSUMED_MESSAGE_BYTES,
                 socket_type: int = zmq.PUB):
        self._context, self.queue_bytes = context, queue_bytes
        self._socket_type = socket_type  # XPUB for outputs with transport shm
        self._sized_for = message_bytes  # the message size the current HWM was chosen for
        self.hwm = hwm_for(queue_bytes, message_bytes)
        self.socket = self._open()
        self.endpoint = bind(self.socket, endpoint)
        self.also: list[str] = []   # more bound endpoints: ipc for this host, tcp for others
        self.source = source
        self._encoder = new_stream_encoder()
        self._seq: dict[str, int] = {}

    def _open(self) -> zmq.Socket:
        socket = self._context.socket(self._socket_type)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.SNDHWM, self.hwm)
        return socket

    def send(self, topic: str, value: Any, stamp_ns: Optional[int] = None,
             hops: Optional[list] = None, recv_ns: Optional[int] = None) -> int:
        """Publish without copying C-contiguous arrays; returns the message's seq.

        The arrays must not be modified until zmq has sent them; publish a copy
        if the buffer is reused. With `hops` (a list, maybe empty) the message carries a
        trail: those hops plus this one, received at `recv_ns` (default: the capture stamp).
        """
        seq = self._seq.get(topic, 0) + 1
        self._seq[topic] = seq
        self.send_as(topic, value, stamp_ns, seq, time.time_ns(), hops, recv_ns)
        return seq

    def next_seq(self, topic: str) -> int:
        seq = self._seq[topic] = self._seq.get(topic, 0) + 1
        return seq

    def send_as(self, wire_topic: str, value: Any, stamp_ns: Optional[int], seq: int,
                pub_ns: int, hops: Optional[list] = None, recv_ns: Optional[int] = None) -> None:
        """Send one message with a given seq on a topic frame (a topic, or its shm form)."""
        if stamp_ns is None:
            stamp_ns = pub_ns
        trail = None if hops is None else extend_trail(
            hops, self.source, stamp_ns if recv_ns is None else recv_ns, pub_ns)
        type_name = value.TYPE if isinstance(value, Schema) else ""
        frames = stream.encode(wire_topic.encode(), type_name, seq, stamp_ns, pub_ns,
                               self.source, value, trail, self._encoder)
        size = send_frames(self.socket, frames)
        if size > self._sized_for:
            self._resize(size)

    def _resize(self, message_bytes: int) -> None:
        self._sized_for = headroom(message_bytes)
        hwm = hwm_for(self.queue_bytes, self._sized_for)
        if hwm >= self.hwm:
            return
        log.info("publisher %s: %d-byte messages, HWM %d -> %d (budget %d bytes); rebinding",
                 self.endpoint, message_bytes, self.hwm, hwm, self.queue_bytes)
        self.hwm = hwm
        self._rebind()

    def _rebind(self) -> None:
        """New pipes take the new HWM: close (the last message still flushes), bind again."""
        self.socket.close(linger=REBIND_LINGER_MS)
        deadline = time.monotonic() + REBIND_WAIT_S
        self.socket = self._open()
        while True:
            try:
                bind(self.socket, self.endpoint)
                return
            except zmq.ZMQError as exc:
                if exc.errno != zmq.EADDRINUSE or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    @property
    def published(self) -> dict:
        """topic -> messages sent (the last seq)."""
        return dict(self._seq)

    def bind_also(self, endpoint: str) -> str:
        """Bind one more endpoint (before sending): same-host subscribers keep ipc."""
        bound = bind(self.socket, endpoint)
        self.also.append(bound)
        return bound

    def close(self) -> None:
        close_socket(self.socket, self.endpoint)
        for endpoint in self.also:
            remove_ipc(endpoint)


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
        """
        socket, queue, topic = self.socket, self.queue, self._topic_bytes
        recv, refuse = socket.recv, self._refuse
        # EVENTS before each read instead of a read failing with zmq.Again at the end (~5 us),
        # and Frame.more instead of a RCVMORE getsockopt per frame; none before the first read
        # when a poll just reported data (it could only be wrong after a spurious wake-up).
        # At most what the socket and the queue held when we started: a publisher faster than
        # this loop must not keep it here (the node would starve its other inputs and service).
        budget = self.hwm + queue.maxlen
        while readable or _get(socket, _EVENTS) & _POLLIN:
            if refuse and len(queue) == queue.maxlen or budget == 0:
                return
            budget -= 1
            if readable:
                readable = False
                try:
                    frames = [recv(_NOBLOCK, copy=False)]
                except zmq.Again:
                    continue
            else:
                frames = [recv(_NOBLOCK, copy=False)]
            while frames[-1].more:  # the parts of a message arrive together
                frames.append(recv(0, copy=False))
            if frames[0].bytes != topic:  # SUBSCRIBE matches prefixes only
                continue
            if len(queue) == queue.maxlen:
                self.stats.drained += 1
            queue.append(frames)
            size = sum(map(len, frames))
            if size > self._sized_for:
                queue = self._resize(size)

    def _resize(self, message_bytes: int) -> collections.deque:
        """Bigger messages than assumed: fewer fit the budget, in the queue and in the pipe."""
        self._sized_for = headroom(message_bytes)
        self.queue = collections.deque(self.queue, maxlen=self._queue_len())
        hwm = self._hwm()
        if hwm < self.hwm:
            self.hwm = hwm
            self.socket.setsockopt(zmq.RCVHWM, hwm)
            self.socket.disconnect(self.endpoint)  # a new pipe takes the new HWM
            self.socket.connect(self.endpoint)
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
