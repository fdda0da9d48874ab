"""Publishing on an output with `transport: shm`: descriptors to local readers, copies to others.

The output's socket is an XPUB, whose subscription messages say which forms of a topic
someone reads: `topic + "\\0shm"` (shm inputs on this host) and/or a prefix of `topic`
(tcp or shm-unaware inputs). Each form is sent only when subscribed; both carry the
same seq. Copies for the plain form go through the publisher's own send.
"""
from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np
import zmq

from edge.bus import Publisher, send_frames
from edge.memory.shm import SHM_SUFFIX, FramePool
from messages import StreamMessage
from messages.trail import extend as extend_trail


class ShmOutput:
    def __init__(self, publisher: Publisher):
        if publisher.socket.type != zmq.XPUB:
            raise ValueError("a shared-memory output needs an XPUB publisher")
        self.publisher = publisher
        self._socket = publisher.socket
        self._subscribed: set[bytes] = set()

    def _refresh(self) -> None:
        socket = self.publisher.socket
        if socket is not self._socket:  # the publisher re-created its socket: subscribers resend
            self._socket, self._subscribed = socket, set()
        while socket.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            message = socket.recv(zmq.NOBLOCK)
            if message[:1] == b"\x01":
                self._subscribed.add(message[1:])
            elif message[:1] == b"\x00":
                self._subscribed.discard(message[1:])

    def forms(self, topic: str) -> tuple[bool, bool]:
        """(shm form wanted, plain form wanted) for `topic`."""
        self._refresh()
        plain = topic.encode()
        shm = plain + SHM_SUFFIX.encode()
        return shm in self._subscribed, any(plain.startswith(p) for p in self._subscribed)

    def send(self, topic: str, value: Any, stamp_ns: Optional[int], pool: Optional[FramePool],
             hops: Optional[list] = None, recv_ns: Optional[int] = None) -> int:
        publisher = self.publisher
        want_shm, want_plain = self.forms(topic)
        loaned = pool is not None and pool.is_loaned(value)
        descriptor = pool.release(value) if loaned else None
        if want_plain:  # the publisher's own path: its seq, and its sizing for big copies
            seq = publisher.send(topic, np.array(value) if loaned else value, stamp_ns, hops,
                                 recv_ns)
        else:
            seq = publisher._seq[topic] = publisher._seq.get(topic, 0) + 1
        if want_shm:
            pub_ns = time.time_ns()
            stamp_ns = pub_ns if stamp_ns is None else stamp_ns
            message = StreamMessage(topic + SHM_SUFFIX, descriptor if loaned else value, seq,
                                    stamp_ns, pub_ns, publisher.source)
            if hops is not None:
                message.trail = extend_trail(hops, publisher.source,
                                             stamp_ns if recv_ns is None else recv_ns, pub_ns)
            send_frames(publisher.socket, message.to_frames(publisher._encoder))
        return seq
