"""Publishing on an output with `transport: shm`: descriptors to local readers, copies to others.

The output's socket is an XPUB, whose subscription messages say which forms of a topic
someone reads: `topic + "\\0shm"` (shm inputs on this host) and/or a prefix of `topic`
(tcp or shm-unaware inputs). Each form is sent only when subscribed; both carry the
same seq.
"""
from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np
import zmq

from edge.bus import Publisher, send_frames
from edge.shm import SHM_SUFFIX, FramePool
from messages import StreamMessage


class ShmOutput:
    def __init__(self, publisher: Publisher):
        if publisher.socket.type != zmq.XPUB:
            raise ValueError("a shared-memory output needs an XPUB publisher")
        self.publisher = publisher
        self._subscribed: set[bytes] = set()

    def _refresh(self) -> None:
        socket = self.publisher.socket
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

    def send(self, topic: str, value: Any, stamp_ns: Optional[int], pool: Optional[FramePool]) -> int:
        publisher = self.publisher
        seq = publisher._seq.get(topic, 0) + 1
        publisher._seq[topic] = seq
        pub_ns = time.time_ns()
        stamp_ns = pub_ns if stamp_ns is None else stamp_ns
        want_shm, want_plain = self.forms(topic)
        loaned = pool is not None and pool.is_loaned(value)
        descriptor = pool.release(value) if loaned else None
        for wanted, wire_topic, body in (
                (want_shm, topic + SHM_SUFFIX, descriptor if loaned else value),
                (want_plain, topic, np.array(value) if loaned and want_plain else value)):
            if wanted:
                message = StreamMessage(wire_topic, body, seq, stamp_ns, pub_ns, publisher.source)
                send_frames(publisher.socket, message.to_frames(publisher._encoder))
        return seq
