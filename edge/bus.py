"""PUB/SUB transport: publishers bind, subscribers connect, topics match exactly."""
from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import zmq

from edge.endpoints import bind, close_socket, connect
from edge.errors import InvalidArgument
from edge.memory.shm import SHM_SUFFIX, ShmReader
from messages import DecodeError, Limits, StreamMessage, new_encoder
from messages.codec import DEFAULT_LIMITS
from messages.shm import ShmFrame

log = logging.getLogger("edge.bus")

_SNDMORE, _NOBLOCK = int(zmq.SNDMORE), int(zmq.NOBLOCK)  # plain ints: enum arithmetic costs µs
_EVENTS, _POLLIN = int(zmq.EVENTS), int(zmq.POLLIN)
OVERFLOW = ("drop_oldest", "drop_newest")
ZERO_COPY_MIN_BYTES = 1 << 16  # smaller frames are cheaper copied than tracked (pyzmq's own rule)


def send_frames(socket: zmq.Socket, frames: list) -> None:
    """send_multipart without its per-frame overhead: small frames copied, large ones not."""
    last = len(frames) - 1
    for index, frame in enumerate(frames):
        big = type(frame) is np.ndarray and frame.nbytes >= ZERO_COPY_MIN_BYTES
        socket.send(frame, _SNDMORE if index < last else 0, copy=not big)

DEFAULT_HWM = 1000  # ZeroMQ's default; far smaller HWMs drop messages even for a peer that keeps up,
#                   because the publisher learns of reads in batches of about HWM/2


class Publisher:
    """One bound PUB socket; any number of topics, each with its own sequence number."""

    def __init__(self, context: zmq.Context, endpoint: str, *, source: str, hwm: int = DEFAULT_HWM,
                 socket_type: int = zmq.PUB):
        self.socket = context.socket(socket_type)  # XPUB for outputs with transport shm
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.SNDHWM, hwm)
        self.endpoint = bind(self.socket, endpoint)
        self.source = source
        self._encoder = new_encoder()
        self._seq: dict[str, int] = {}

    def send(self, topic: str, value: Any, stamp_ns: Optional[int] = None) -> int:
        """Publish without copying C-contiguous arrays; returns the message's seq.

        The arrays must not be modified until zmq has sent them; publish a copy
        if the buffer is reused.
        """
        seq = self._seq.get(topic, 0) + 1
        self._seq[topic] = seq
        pub_ns = time.time_ns()
        message = StreamMessage(topic, value, seq, stamp_ns if stamp_ns is not None else pub_ns,
                                pub_ns, self.source)
        send_frames(self.socket, message.to_frames(self._encoder))
        return seq

    @property
    def published(self) -> dict:
        """topic -> messages sent (the last seq)."""
        return dict(self._seq)

    def close(self) -> None:
        close_socket(self.socket, self.endpoint)


@dataclass
class InputStats:
    received: int = 0       # messages delivered to the node
    dropped: int = 0        # never delivered: drained by the queue policy or lost upstream
    drained: int = 0        # part of `dropped`: discarded here to keep only the newest
    decode_errors: int = 0  # malformed messages, dropped
    overwritten: int = 0    # part of `dropped`: shm frames reused by the publisher before read

    def as_dict(self) -> dict:
        return dict(received=self.received, dropped=self.dropped, drained=self.drained,
                    decode_errors=self.decode_errors, overwritten=self.overwritten)


class Input:
    """A SUB socket for one topic with a bounded queue of the newest messages.

    ZMQ_CONFLATE does not work with multipart messages, so latest-only (queue_size=1)
    drains the socket and keeps the newest. Drops are seq gaps between delivered
    messages: both those drained here and those lost upstream (HWM, reconnects).
    """

    def __init__(self, context: zmq.Context, name: str, topic: str, endpoint: str, *,
                 queue_size: int = 1, limits: Limits = DEFAULT_LIMITS, hwm: int = DEFAULT_HWM,
                 transport: str = "zmq", overflow: str = "drop_oldest"):
        if queue_size < 1:
            raise ValueError(f"input {name!r}: queue_size must be >= 1, got {queue_size}")
        if overflow not in OVERFLOW:
            raise ValueError(f"input {name!r}: overflow must be one of {', '.join(OVERFLOW)}, "
                             f"got {overflow!r}")
        self._refuse = overflow == "drop_newest"
        if transport not in ("zmq", "shm"):
            raise ValueError(f"input {name!r}: transport must be zmq or shm, got {transport!r}")
        self.name, self.topic, self.endpoint = name, topic, endpoint
        # shm only where the publisher is on this host by construction (ipc); tcp gets copies
        self._shm = ShmReader() if transport == "shm" and endpoint.startswith("ipc://") else None
        self._topic_bytes = (topic + SHM_SUFFIX if self._shm else topic).encode()
        self._limits = limits
        self.socket = context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVHWM, max(hwm, queue_size))
        self.socket.setsockopt(zmq.SUBSCRIBE, self._topic_bytes)
        try:
            connect(self.socket, endpoint)
        except InvalidArgument:
            self.socket.close(linger=0)
            raise
        self.queue: collections.deque = collections.deque(maxlen=queue_size)
        self.stats = InputStats()
        self._last: tuple[str, int] | None = None  # (source, seq) of the last delivered message
        self._unreported_drops = 0

    def drain(self) -> None:
        """Move what the socket holds into the queue.

        drop_oldest (default): read everything and keep the newest queue_size, so what the
        node sees is never older than its queue. drop_newest: stop reading once the queue is
        full and let zmq refuse what arrives beyond its HWM; cheaper under a flood (nothing
        discarded passes through Python), but the backlog can be up to the HWM old.
        """
        socket, queue, topic = self.socket, self.queue, self._topic_bytes
        recv, events, refuse = socket.recv, socket.getsockopt, self._refuse
        # EVENTS before each read instead of a read failing with zmq.Again at the end (~5 us),
        # and Frame.more instead of a RCVMORE getsockopt per frame.
        while events(_EVENTS) & _POLLIN:
            if refuse and len(queue) == queue.maxlen:
                return
            frames = [recv(_NOBLOCK, copy=False)]
            while frames[-1].more:  # the parts of a message arrive together
                frames.append(recv(0, copy=False))
            if frames[0].bytes != topic:  # SUBSCRIBE matches prefixes only
                continue
            if len(queue) == queue.maxlen:
                self.stats.drained += 1
            queue.append(frames)

    def pop(self) -> Optional[StreamMessage]:
        """Decode and return the oldest queued message; malformed ones are counted and skipped."""
        while self.queue:
            frames = self.queue.popleft()
            try:
                message = StreamMessage.from_frames(frames, self._limits)
            except DecodeError as exc:
                self.stats.decode_errors += 1
                log.warning("input %r (%s): dropped malformed message: %s", self.name, self.topic, exc)
                continue
            if self._shm is not None and not self._map_shm(message):
                continue
            self._count(message)
            return message
        return None

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
            log.warning("input %r (%s): shared-memory frame unavailable: %s", self.name, self.topic, exc)
            return False
        if view is None:
            self.stats.overwritten += 1
            return False
        message.value = view
        return True

    def _count(self, message: StreamMessage) -> None:
        self.stats.received += 1
        last = self._last
        if last is not None and last[0] == message.source and message.seq > last[1]:
            gap = message.seq - last[1] - 1
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
