"""A Lazy Pirate client over DEALER: timeout, bounded retries on one socket, a clear ServiceTimeout."""
from __future__ import annotations

import itertools
import time
import uuid
from typing import Any, Optional

import zmq

from edge.bus import recv_frames, send_frames
from edge.endpoints import connect
from edge.errors import Internal, InvalidArgument, ServiceTimeout, error_from_wire
from messages import CallEncoder, DecodeError, Limits, ReplyMessage, RequestMessage
from messages.codec import DEFAULT_LIMITS

_SNDMORE, _NOBLOCK = int(zmq.SNDMORE), int(zmq.NOBLOCK)  # plain ints: enum arithmetic costs µs
_send_frame = zmq.backend.Socket.send  # the Cython send, without pyzmq's Python wrapper
_set_option, _RCVTIMEO = zmq.backend.Socket.set, int(zmq.RCVTIMEO)
HEARTBEAT_IVL_MS = 1000      # ZMTP pings, answered by the peer's I/O thread, not its app
HEARTBEAT_TIMEOUT_MS = 5000  # a peer silent this long is reconnected


class Client:
    """Calls methods of a Service. One thread uses a client; make one per thread.

    Each attempt waits `timeout_s`; after `retries` more attempts the call raises
    ServiceTimeout, so a call never takes longer than (retries + 1) * timeout_s.

    A retry goes out on the same DEALER socket: unlike REQ it has no lockstep to get
    stuck in, ZeroMQ reconnects it by itself (heartbeats notice a dead tcp peer), and its
    connection is the identity by which a service recognises the retry and runs the
    request once (a fresh socket would be a new peer). Request ids are unique strings.
    """

    def __init__(self, endpoint: str, *, timeout_s: float = 5.0, retries: int = 2,
                 context: zmq.Context | None = None, limits: Limits = DEFAULT_LIMITS,
                 server_key: str | None = None):
        self.endpoint, self.timeout_s, self.retries = endpoint, timeout_s, retries
        self.server_key = server_key  # CURVE: the server's public key on tcp (edge.security)
        self._context = context or zmq.Context.instance()
        self._limits = limits
        self._encoder = CallEncoder(limits.max_header_bytes)
        self._prefix = uuid.uuid4().hex[:12]
        self._counter = itertools.count(1)
        self._socket: Optional[zmq.Socket] = None
        self._rcvtimeo_ms = -1  # what the socket's RCVTIMEO is set to (-1: libzmq's default)

    def call(self, method: str, body: Any = None, *, timeout_s: float | None = None,
             retries: int | None = None, priority: int = 0) -> Any:
        """Return the reply body, or raise the EdgeError the service answered with."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        retries = self.retries if retries is None else retries
        request = RequestMessage(f"{self._prefix}:{next(self._counter)}", method, body,
                                 timeout_ms=int(timeout_s * 1000), priority=priority)
        frames = self._encoder.frames(request)
        started = time.monotonic()
        for attempt in range(retries + 1):
            deadline = (time.monotonic() if attempt else started) + timeout_s
            socket = self._connected()
            self._send(socket, frames, deadline)
            reply = self._wait(socket, request.id, deadline)
            if reply is not None:
                if reply.ok:
                    return reply.body
                raise error_from_wire(reply.error)
        raise ServiceTimeout(
            f"no reply from {self.endpoint} to {method!r} after {retries + 1} attempt(s) "
            f"in {time.monotonic() - started:.1f}s")

    @staticmethod
    def _send(socket: zmq.Socket, frames: list, deadline: float) -> None:
        """Without waiting when the DEALER has a connection (the usual case), else until
        one is up or the deadline; an attempt that could not be sent times out."""
        try:
            _send_frame(socket, b"", _SNDMORE | _NOBLOCK, True)
        except zmq.Again:
            if not socket.poll(_ms_until(deadline), zmq.POLLOUT):
                return
            try:
                _send_frame(socket, b"", _SNDMORE | _NOBLOCK, True)
            except zmq.Again:  # its connection dropped after the poll: this attempt is lost
                return
        send_frames(socket, frames)  # the rest of a message never blocks

    def _wait(self, socket: zmq.Socket, request_id: str, deadline: float) -> Optional[ReplyMessage]:
        """A blocking recv bounded by RCVTIMEO: one wait in libzmq, where zmq_poll and then
        a recv would read the socket's events twice more (a syscall each)."""
        while deadline - time.monotonic() > 0:
            timeout_ms = _ms_until(deadline)
            if timeout_ms != self._rcvtimeo_ms:  # calls with one timeout_s mostly repeat it
                _set_option(socket, _RCVTIMEO, timeout_ms)
                self._rcvtimeo_ms = timeout_ms
            try:
                frames = recv_frames(socket)  # the rest of a message is there with its first frame
            except zmq.Again:
                continue
            if len(frames) < 2 or len(frames[0]) != 0:
                continue
            try:
                reply = ReplyMessage.from_frames(frames[1:], self._limits)
            except DecodeError as exc:
                if RequestMessage.peek_id(frames[1:]) == request_id:
                    raise Internal(f"the reply to {request_id!r} could not be decoded: {exc}") from None
                continue
            if reply.id == request_id:
                return reply
            # else: a late answer to an attempt we gave up on; keep waiting for ours
        return None

    def _connected(self) -> zmq.Socket:
        if self._socket is None:
            self._socket = self._context.socket(zmq.DEALER)
            self._socket.setsockopt(zmq.LINGER, 0)
            self._socket.setsockopt(zmq.MAXMSGSIZE, self._limits.max_frame_bytes)
            self._socket.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
            self._socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
            try:
                connect(self._socket, self.endpoint, self.server_key)
            except InvalidArgument:
                self._reset()
                raise
        return self._socket

    def _reset(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket, self._rcvtimeo_ms = None, -1

    def close(self) -> None:
        self._reset()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _ms_until(deadline: float) -> int:
    return max(1, int((deadline - time.monotonic()) * 1000))
