"""PUB/SUB transport: publishers bind, subscribers (edge.inputs) connect, topics match exactly.

Memory is bounded in bytes. ZeroMQ's high-water marks count messages and are fixed when a
pipe (one per peer) is created, so each side assumes small messages until the first big
one shows its size, then picks HWM = budget / size. Where few messages have passed (the
usual case: the first message is a big one) the new HWM applies to the pipes in place and
nothing is lost; otherwise the pipes are re-created once: the publisher rebinds
(subscribers reconnect by themselves), an input reconnects.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Optional

import numpy as np
import zmq

from edge.endpoints import bind, close_socket, remove_ipc
from messages import Schema, new_stream_encoder, stream
from messages.trail import extend as extend_trail

log = logging.getLogger("edge.bus")

_SNDMORE, _NOBLOCK = int(zmq.SNDMORE), int(zmq.NOBLOCK)  # plain ints: enum arithmetic costs µs
_send = zmq.backend.Socket.send  # the Cython send, without pyzmq's Python wrapper (~0.4 µs a frame)
_EVENTS, _POLLIN = int(zmq.EVENTS), int(zmq.POLLIN)
_get = zmq.backend.Socket.get  # the Cython getsockopt: an int, not pyzmq's enum (~1 us less)


def has_data(socket: zmq.Socket) -> bool:
    """Whether a socket has a message to read (ZMQ_EVENTS), at the cost of one C call."""
    return bool(_get(socket, _EVENTS) & _POLLIN)


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


def lowers_in_place(messages: int, hwm: int) -> bool:
    """Whether pipes that have carried at most `messages` can take a lower `hwm` in place.

    libzmq applies a changed HWM to the pipes a socket has, but a pipe's writer learns of
    reads only at each low-water mark ((hwm + 1) // 2 messages): past that, a writer that
    finds itself over the new HWM when its reader has caught up stays full for good. Below
    it the reader always reaches a mark first (libzmq's pipe.cpp, compute_lwm)."""
    return messages < hwm - (hwm + 1) // 2


def lower_rcvhwm(socket: zmq.Socket, endpoint: str, hwm: int, received: int) -> bool:
    """Give a SUB socket a lower RCVHWM: in place when its connection has carried
    `received` messages or fewer than lowers_in_place allows, else on a new connection
    (what is in flight meanwhile is lost). True when it reconnected."""
    socket.setsockopt(zmq.RCVHWM, hwm)
    if lowers_in_place(received, hwm):
        return False
    socket.disconnect(endpoint)
    socket.connect(endpoint)
    return True


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


_recv = zmq.backend.Socket.recv  # the Cython recv, without pyzmq's Python wrapper


def recv_frames(socket: zmq.Socket, flags: int = 0) -> list:
    """`socket.recv_multipart(flags, copy=False)` without its RCVMORE getsockopt per frame:
    each received Frame knows whether more follow (`Frame.more`)."""
    frame = _recv(socket, flags, False)
    frames = [frame]
    while frame.more:
        frame = _recv(socket, flags, False)
        frames.append(frame)
    return frames


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
        self._sent = 0  # messages sent on this socket: whether a new HWM can apply in place
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
        self._sent += 1
        if size > self._sized_for:
            self._resize(size)

    def _resize(self, message_bytes: int) -> None:
        self._sized_for = headroom(message_bytes)
        hwm = hwm_for(self.queue_bytes, self._sized_for)
        if hwm >= self.hwm:
            return
        in_place = lowers_in_place(self._sent, hwm)
        log.info("publisher %s: %d-byte messages, HWM %d -> %d (budget %d bytes)%s",
                 self.endpoint, message_bytes, self.hwm, hwm, self.queue_bytes,
                 "" if in_place else "; rebinding")
        self.hwm = hwm
        if in_place:
            self.socket.setsockopt(zmq.SNDHWM, hwm)
        else:
            self._rebind()

    def _rebind(self) -> None:
        """New pipes take the new HWM: close (the last message still flushes), bind again."""
        self.socket.close(linger=REBIND_LINGER_MS)
        deadline = time.monotonic() + REBIND_WAIT_S
        self.socket, self._sent = self._open(), 0
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
