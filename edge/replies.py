"""How a request is answered: its Request and Responder, and the reply cache, which
answers a retried request once: a retry gets the first run's reply.

An entry belongs to one peer: it is keyed by (routing identity, request id), so a
second peer that sends the same id runs its own request and never sees the first
peer's reply. A retry is recognised only when it comes from the same identity, which
is why edge.Client resends on the socket it sent from. The ROUTER never hands an
identity over to a new connection (no ZMQ_ROUTER_HANDOVER), so no peer can claim
another's identity, guessed or not, while that one is connected.

Only string ids of at most MAX_ID_CHARS take part: clients that retry (edge.Client)
send ids that are unique per client, while plain REQ peers often number from 1.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any, Optional

import zmq

from edge.errors import EdgeError
from edge.ratelimit import RateLimitedLog
from messages import ReplyMessage, RequestMessage

handler_failures = RateLimitedLog(logging.getLogger("edge.service"))  # a peer provokes these at will
MAX_ID_CHARS = 256
DEFAULT_MAX_BYTES = 16 << 20


def peer_identity(envelope: list) -> bytes:
    """The routing frames before the empty delimiter (all of the envelope when the peer
    sent none, out of contract), as one key."""
    if len(envelope) == 2:  # one routing frame and the delimiter: the usual case
        frame = envelope[0]
        return frame.bytes if type(frame) is zmq.Frame else bytes(frame)
    frames = [bytes(frame) for frame in envelope]
    if frames and not frames[-1]:
        frames.pop()
    return b"\0".join(frames)


class ReplyCache:
    """Bounded in bytes: finished replies (frames + keys) and in-flight keys together."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, max_inflight: int = 10_000):
        self._max_bytes, self._max_inflight = max_bytes, max_inflight
        self._inflight: collections.OrderedDict = collections.OrderedDict()  # key -> envelope
        self._done: collections.OrderedDict = collections.OrderedDict()  # key -> (frames, bytes)
        self._bytes = 0

    @staticmethod
    def key(envelope: list, request_id: Any) -> Optional[tuple]:
        """What a request's reply is kept under; None for ids that take no part."""
        if type(request_id) is not str or len(request_id) > MAX_ID_CHARS:
            return None
        return peer_identity(envelope), request_id

    def replay(self, key: tuple, envelope: list, socket: zmq.Socket) -> bool:
        """True when this peer sent this request before: answered again now, or when it
        finishes. Otherwise the request is in flight under `key` until `finish`."""
        inflight = self._inflight
        if key in inflight:
            inflight[key] = envelope  # the same peer, perhaps through a fresh connection
            return True
        done = self._done.get(key)
        if done is not None:
            self._done.move_to_end(key)
            socket.send_multipart(envelope + done[0], copy=False)
            return True
        inflight[key] = envelope
        if len(inflight) > self._max_inflight:
            inflight.popitem(last=False)
        return False

    def finish(self, key: tuple, envelope: list, frames: list) -> list:
        """Remember the reply; return the envelope to send it to (the newest attempt's)."""
        newest = self._inflight.pop(key, None)
        if newest is None:
            return envelope
        # headers are bytes; buffers are flat or not (a 2-D array's len is its row count)
        size = len(key[0]) + len(key[1]) + sum(
            [len(f) if type(f) is bytes else memoryview(f).nbytes for f in frames])
        if size <= self._max_bytes:
            self._done[key] = (frames, size)
            self._bytes += size
            while self._bytes > self._max_bytes:
                _, (_, old_size) = self._done.popitem(last=False)
                self._bytes -= old_size
        return newest

    @property
    def cached_bytes(self) -> int:
        return self._bytes


class Request:
    """One decoded request, from the edge.service.Service that received it; `deadline` is
    on the time.monotonic() clock, or None."""

    __slots__ = ("id", "method", "body", "priority", "deadline", "deadline_ns", "received_ns",
                 "user_id", "role", "_service", "_envelope", "_key", "_deferred")

    def __init__(self, message: RequestMessage, envelope: list, service: Any,
                 user_id: Optional[str] = None, role: str = "admin",
                 key: Optional[tuple] = None):
        self.id, self.method, self.body = message.id, message.method, message.body
        # who asked: the CURVE key's name ("owner" for this user's own key) and its role;
        # None and "admin" over ipc or --insecure tcp (edge.security)
        self.user_id, self.role = user_id, role
        self.priority = message.priority
        self.received_ns = received_ns = time.monotonic_ns()
        if message.timeout_ms is None:
            self.deadline = self.deadline_ns = None
        else:  # `deadline_ns` on time.monotonic_ns(): the same clock, read once
            self.deadline_ns = received_ns + message.timeout_ms * 1_000_000
            self.deadline = self.deadline_ns / 1e9
        self._service, self._envelope, self._deferred = service, envelope, None
        self._key = key  # its reply's key in the service's reply cache (edge.replies)

    def defer(self) -> "Responder":
        """Answer later, from any thread, without holding up the socket thread."""
        if self._deferred is None:
            self._deferred = Responder(self._service, self._envelope, self.id, self._key)
            self._service._owe(self._deferred)
        return self._deferred

    @property
    def peer(self) -> bytes:
        """The sender's routing identity (one per connection; an edge.Client keeps its own
        across retries). ZeroMQ assigns it unless the peer sets ZMQ_ROUTING_ID."""
        return peer_identity(self._envelope)

    @property
    def others_waiting(self) -> bool:
        """Another request waits on the socket behind this one (one cheap getsockopt)."""
        return self._service.waiting()

    @property
    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline


class Responder:
    """Thread-safe, answer-once handle for a deferred request."""

    def __init__(self, service: Any, envelope: list, request_id: Any,
                 key: Optional[tuple] = None):
        self._service, self._envelope, self._id, self._key = service, envelope, request_id, key
        self._done = threading.Lock()
        self.answered = False

    def reply(self, body: Any = None) -> None:
        self._send(ReplyMessage(self._id, ok=True, body=body))

    def fail(self, error: BaseException) -> None:
        self._send(error_reply(self._id, error))

    def _send(self, reply: ReplyMessage) -> None:
        with self._done:
            if self.answered:
                return
            self.answered = True
        self._service.post(self._envelope, reply, self._key)
        self._service._settle(self)


def error_reply(request_id: Any, error: BaseException) -> ReplyMessage:
    if not isinstance(error, EdgeError):
        handler_failures.error("handler failed for request %r: %s: %s", request_id,
                               type(error).__name__, error, exc_info=error)
        error = EdgeError(f"{type(error).__name__}: {error}")
    return ReplyMessage(request_id, ok=False, error=error.to_wire())
