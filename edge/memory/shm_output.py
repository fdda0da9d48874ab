"""Publishing on an output with transport shm or auto: shm-form messages to local readers,
plain copies to others.

The output's socket is an XPUB, whose subscription messages say which forms of a topic
someone reads: `topic + "\\0shm"` (inputs on this host reading by shared memory) and/or a
prefix of `topic` (tcp or zmq-only inputs). Each form is sent only when subscribed; both
carry the same seq, the shm form first.

- transport shm: a loaned frame goes to local readers as a ShmFrame descriptor;
- transport auto (the default): so does an array of at least `shm_min_bytes`, copied
  into a frame of the node's pool when it was not loaned. Anything smaller travels in
  the shm form exactly as in the plain form.

Subscriptions are read at most every REFRESH_S (an EVENTS query costs ~2 us, too much for
every small message): a subscriber that just connected may miss that long, as any
PUB/SUB subscriber may miss what was published before its subscription arrived.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

import numpy as np
import zmq

from edge.bus import Publisher, has_data
from edge.config import SHM_MIN_BYTES  # noqa: F401  (the default of OutputConfig.shm_min_bytes)
from edge.errors import ResourceExhausted
from edge.memory.shm import SHM_SUFFIX, FramePool

REFRESH_S = 0.005


class ShmOutput:
    def __init__(self, publisher: Publisher):
        if publisher.socket.type != zmq.XPUB:
            raise ValueError("a shared-memory output needs an XPUB publisher")
        self.publisher = publisher
        self._socket = publisher.socket
        self._subscribed: set[bytes] = set()
        self._forms: dict[str, tuple[bool, bool, str]] = {}  # topic -> (shm, plain, shm topic)
        self._next_refresh = 0.0
        self.copied = 0  # auto: arrays copied into shared memory
        self.fallbacks = 0  # auto: arrays sent through zmq because every frame was held

    def _refresh(self) -> None:
        socket = self.publisher.socket
        if socket is not self._socket:  # the publisher re-created its socket: subscribers resend
            self._socket, self._subscribed = socket, set()
            self._forms.clear()
        while has_data(socket):
            message = socket.recv(zmq.NOBLOCK)
            if message[:1] == b"\x01":
                self._subscribed.add(message[1:])
            elif message[:1] == b"\x00":
                self._subscribed.discard(message[1:])
            self._forms.clear()
        self._next_refresh = time.monotonic() + REFRESH_S

    def forms(self, topic: str) -> tuple[bool, bool, str]:
        """(shm form wanted, plain form wanted, the shm form's topic) for `topic`."""
        if time.monotonic() >= self._next_refresh or self.publisher.socket is not self._socket:
            self._refresh()
        found = self._forms.get(topic)
        if found is None:
            plain, shm_topic = topic.encode(), topic + SHM_SUFFIX
            found = self._forms[topic] = (shm_topic.encode() in self._subscribed,
                                          any(plain.startswith(p) for p in self._subscribed),
                                          shm_topic)
        return found

    def send(self, topic: str, value: Any, stamp_ns: Optional[int], pool: Optional[FramePool],
             min_bytes: int = 0, make_pool: Callable[[], FramePool] | None = None,
             hops: Optional[list] = None, recv_ns: Optional[int] = None) -> int:
        """Publish `value`; `min_bytes` > 0 (auto): copy arrays that big into shared memory.
        `hops`/`recv_ns`: the trail, as for Publisher.send (both forms carry the same)."""
        publisher = self.publisher
        want_shm, want_plain, shm_topic = self.forms(topic)
        loaned = pool is not None and pool.is_loaned(value)
        shm_value = pool.release(value) if loaned else value
        if (want_shm and min_bytes and not loaned and type(value) is np.ndarray
                and value.nbytes >= min_bytes and make_pool is not None):
            shm_value = self._copy_in(make_pool(), value)
        seq, pub_ns = publisher.next_seq(topic), time.time_ns()
        if want_shm:
            publisher.send_as(shm_topic, shm_value, stamp_ns, seq, pub_ns, hops, recv_ns)
        if want_plain:  # the publisher's own path, and its sizing for big copies
            publisher.send_as(topic, np.array(value) if loaned else value, stamp_ns, seq,
                              pub_ns, hops, recv_ns)
        return seq

    def _copy_in(self, pool: FramePool, value: np.ndarray) -> Any:
        """A descriptor of `value` copied into a pool frame; `value` itself if none is free."""
        try:
            frame = pool.loan(value.shape, value.dtype)
        except (ResourceExhausted, TypeError):
            self.fallbacks += 1
            return value
        np.copyto(frame, value)
        self.copied += 1
        return pool.release(frame)
