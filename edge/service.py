"""Request handlers on a ROUTER socket, answering REQ and DEALER peers alike.

A handler gets a Request and returns the reply body or raises an EdgeError. A handler
that must not block the socket thread calls `request.defer()` and answers later,
from any thread, through the returned Responder.

Closing answers what is still owed: requests waiting on the socket and deferred ones
not yet answered get UNAVAILABLE, posted replies are sent; a Responder that answers
after that is dropped (the socket and its wake pipe are gone).
"""
from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from typing import Any, Callable, Optional

import zmq

from edge.bus import has_data, recv_frames, send_frames
from edge.endpoints import bind, close_socket
from edge import security
from edge.errors import (DeadlineExceeded, EdgeError, InvalidArgument, PermissionDenied,
                         Unavailable, Unimplemented)
from edge.ratelimit import RateLimitedLog
from edge.replies import DEFAULT_MAX_BYTES, ReplyCache, Request, Responder, error_reply
from edge.signals import close_at_exit
from messages import CallEncoder, DecodeError, Limits, ReplyMessage, RequestMessage
from messages.codec import DEFAULT_LIMITS

log = logging.getLogger("edge.service")
_NOBLOCK = int(zmq.NOBLOCK)  # a plain int: enum arithmetic costs µs per call
_set, _RCVTIMEO = zmq.backend.Socket.set, int(zmq.RCVTIMEO)
MAX_DRAIN_AT_CLOSE = 1000  # unread requests answered UNAVAILABLE by close()
CLOSE_LINGER_MS = 1000  # how long replies sent by close() may take to leave
BLOCKING_RECV_MS = 50  # serve() notices a stop this soon while it waits in recv

Handler = Callable[["Request"], Any]


class Service:
    """A ROUTER socket and a method table. Serve it on its own thread (`start`) or
    from an existing loop (`poll_items` + `process`).
    """

    def __init__(self, endpoint: str, *, name: str = "service", context: zmq.Context | None = None,
                 limits: Limits = DEFAULT_LIMITS, reply_cache_bytes: int = DEFAULT_MAX_BYTES):
        self.name = name
        self._context = context or zmq.Context.instance()
        self._limits = limits
        self._methods: dict[str, Handler] = {"ping": self._ping, "methods": self._list_methods}
        self._read_methods: set[str] = {"ping", "methods"}  # what a `read` key may call
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._lock = threading.Lock()  # guards _closed, _owed, _woken and the wake pipe's fds
        self._woken = False  # a byte is in the wake pipe: replies were posted since the last read
        self._closed = False
        self._owed: set[Responder] = set()  # deferred requests not yet answered
        self._replies = ReplyCache(reply_cache_bytes)
        self._bad_requests = RateLimitedLog(log)
        self._encoder = CallEncoder(limits.max_header_bytes)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._at_exit: Optional[Callable[[], None]] = None
        self.socket = self._context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, limits.max_frame_bytes)  # larger: peer dropped
        self.endpoint = bind(self.socket, endpoint)

    def add(self, method: str, handler: Handler, *, role: str = "admin") -> None:
        """`role`: the least role that may call it; "read" for methods that change nothing."""
        self._methods[method] = handler
        if role == "read":
            self._read_methods.add(method)
        else:
            self._read_methods.discard(method)

    def method(self, name: str, *, role: str = "admin") -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(name, handler, role=role)
            return handler
        return register

    # -- serving from a loop of one's own -------------------------------------------------
    def poll_items(self) -> list:
        return [(self.socket, zmq.POLLIN), (self._wake_r, zmq.POLLIN)]

    def pending(self) -> bool:
        """Cheap check, without a syscall that fails: a request waits or a reply was posted."""
        return has_data(self.socket) or not self._outbox.empty()

    def waiting(self) -> bool:
        """A request waits on the socket (read on the socket's thread)."""
        return has_data(self.socket)

    def process(self) -> None:
        """Answer every request waiting on the socket and send every deferred reply.

        EVENTS says whether a request waits, so the drain does not end in a failing
        recv (raising zmq.Again costs more than the getsockopt)."""
        socket = self.socket
        self._send_posted()
        while has_data(socket):
            try:
                frames = recv_frames(socket, _NOBLOCK)
            except zmq.Again:
                break
            self._handle(frames)
            if self._woken:
                self._send_posted()

    # -- serving on a thread of its own ---------------------------------------------------
    def start(self) -> "Service":
        """Serve on a background thread, which from now on owns the socket."""
        self._thread = threading.Thread(target=self.serve, name=f"service-{self.name}", daemon=True)
        self._thread.start()
        # handlers may run native code (a model manager's inline runs) on this daemon thread
        self._at_exit = close_at_exit(self, Service.close)
        return self

    def serve(self, stop: threading.Event | None = None, poll_ms: int = 200) -> None:
        """One request at a time. While no deferred request is owed nothing can be posted,
        so a plain blocking recv (RCVTIMEO-bounded) waits for the next request: one wait
        in libzmq, where zmq_poll on the socket and the wake pipe reads the socket's events
        before and after its poll() (a syscall each). Otherwise the pipe is polled too."""
        stop = stop or self._stop
        socket = self.socket
        poller = zmq.Poller()
        for item, flags in self.poll_items():
            poller.register(item, flags)
        _set(socket, _RCVTIMEO, min(poll_ms, BLOCKING_RECV_MS))
        while not stop.is_set() and not self._stop.is_set():
            self._send_posted()
            if self._owed or not self._outbox.empty():  # a reply may be posted any moment
                ready = poller.poll(poll_ms)
                if not ready or (ready[0][0] is not socket and len(ready) == 1):
                    continue
                flags = _NOBLOCK  # zmq_poll saw a request: this recv cannot fail
            else:
                flags = 0
            try:
                frames = recv_frames(socket, flags)
            except zmq.Again:
                continue
            self._handle(frames)

    def close(self) -> None:
        """Answer what is owed (see the module docstring), then close the socket."""
        if self._closed:
            return
        if self._at_exit is not None:
            atexit.unregister(self._at_exit)
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        linger_ms = 0
        if self._thread is not None and self._thread.is_alive():
            log.warning("service %s: its thread did not stop; unanswered requests time out",
                        self.name)
        elif self._answer_owed():  # this thread owns the socket now
            linger_ms = CLOSE_LINGER_MS
        with self._lock:
            self._closed = True
            close_socket(self.socket, self.endpoint, linger_ms)
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _answer_owed(self) -> int:
        """Answer unread and deferred requests UNAVAILABLE, send what was posted; how many."""
        gone = Unavailable(f"service {self.name!r} is closing")
        drained = 0
        while drained < MAX_DRAIN_AT_CLOSE:
            try:
                frames = recv_frames(self.socket, _NOBLOCK)
            except zmq.Again:
                break
            drained += 1
            envelope, body = _split_envelope(frames)
            self._send(envelope, error_reply(_request_id(body, self._limits), gone))
        with self._lock:
            owed = list(self._owed)
        for responder in owed:
            responder.fail(gone)
        return drained + self._send_posted()

    # -- internals ---------------------------------------------------------------------------
    def post(self, envelope: list, reply: ReplyMessage, key: Optional[tuple] = None) -> None:
        """Queue a reply from any thread; the socket thread sends it. Dropped once closed.
        `key`: the request's in the reply cache, if it took part (edge.replies)."""
        with self._lock:
            if self._closed:
                log.debug("service %s: closed, reply to %r dropped", self.name, reply.id)
                return
            self._outbox.put((envelope, reply, key))
            if self._woken:  # the socket thread has not read the pipe yet: one byte will do
                return
            self._woken = True
            self._write_wake()

    def _write_wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass  # the pipe is full: the socket thread wakes anyway

    def _wake(self) -> None:
        with self._lock:
            if not self._closed:
                self._write_wake()

    def _owe(self, responder: "Responder") -> None:
        with self._lock:
            self._owed.add(responder)

    def _settle(self, responder: "Responder") -> None:
        with self._lock:
            self._owed.discard(responder)

    def _send_posted(self) -> int:
        """Read the wake pipe (only when it was written, or at close) and send what was posted."""
        if self._woken or self._stop.is_set():
            with self._lock:
                self._woken = False
                try:
                    os.read(self._wake_r, 4096)
                except (BlockingIOError, OSError):
                    pass
        sent = 0
        outbox = self._outbox
        while not outbox.empty():  # only this thread takes from it: get_nowait cannot fail
            self._send(*outbox.get_nowait())
            sent += 1
        return sent

    def _send(self, envelope: list, reply: ReplyMessage, key: Optional[tuple] = None) -> None:
        try:
            frames = self._encoder.frames(reply)
        except (TypeError, ValueError) as exc:
            frames = self._encoder.frames(
                error_reply(reply.id, EdgeError(f"reply cannot be encoded: {exc}")))
        if key is not None:
            envelope = self._replies.finish(key, envelope, frames)
        try:  # small frames copied, large ones not (edge.bus); a ROUTER drops, never blocks
            send_frames(self.socket, envelope + frames)
        except zmq.Again:
            pass  # the peer is gone or not reading

    def _handle(self, frames: list) -> None:
        envelope, body = _split_envelope(frames)
        try:
            message = RequestMessage.from_frames(body, self._limits)
        except DecodeError as exc:
            self._bad_requests.warning("service %s: malformed request: %s", self.name, exc)
            request_id = RequestMessage.peek_id(body) if body else None
            self._send(envelope, error_reply(request_id, InvalidArgument(f"malformed request: {exc}")))
            return
        key = ReplyCache.key(envelope, message.id)
        if key is not None and self._replies.replay(key, envelope, self.socket):
            return
        request = Request(message, envelope, self, *security.peer(body[0], self.socket), key)
        self._dispatch(request)

    def _dispatch(self, request: Request) -> None:
        handler = self._methods.get(request.method)
        try:
            if handler is None:
                raise Unimplemented(f"unknown method {request.method!r} (see 'methods')")
            if request.role != "admin" and request.method not in self._read_methods:
                raise PermissionDenied(f"{request.method!r} needs an admin key; key "
                                       f"{request.user_id!r} has role {request.role!r}")
            if request.expired:
                raise DeadlineExceeded(f"{request.method!r} arrived after its deadline")
            result = handler(request)
        except Exception as exc:  # every failure becomes a reply; the service keeps serving
            if request._deferred is None:
                self._send(request._envelope, error_reply(request.id, exc), request._key)
            else:
                request._deferred.fail(exc)
            return
        if request._deferred is None:
            self._send(request._envelope, ReplyMessage(request.id, ok=True, body=result),
                       request._key)

    def _ping(self, request: Request) -> dict:
        return {"name": self.name, "pid": os.getpid(), "time_ns": time.time_ns()}

    def _list_methods(self, request: Request) -> list:
        return sorted(self._methods)


def _request_id(body: list, limits: Limits):
    try:
        return RequestMessage.from_frames(body, limits).id
    except DecodeError:
        return None


def _split_envelope(frames: list) -> tuple[list, list]:
    """Routing frames up to the empty delimiter (REQ and our DEALER send one), then the request."""
    if len(frames) > 2 and len(frames[1]) == 0:  # [routing id, delimiter, ...]: the usual case
        return frames[:2], frames[2:]
    for index, frame in enumerate(frames):
        if index and len(frame) == 0:
            return list(frames[:index + 1]), frames[index + 1:]
    return list(frames[:1]), frames[1:]
