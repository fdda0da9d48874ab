"""The methods a FakeNode serves: scripted calls answered in-process, as edge.Service would.

A call goes through the real request and reply codec. It gets UNIMPLEMENTED for a method
the node does not serve and PERMISSION_DENIED for an admin method called with a read key;
an EdgeError a handler raises becomes the error reply. Any other exception propagates,
so a bug in node code shows its traceback in the test (the real service logs it and
replies INTERNAL). `request.defer()` works: the answer is recorded whenever it is given,
from any thread.
"""
from __future__ import annotations

import itertools
import threading
import time
from typing import Any, Callable

from edge.errors import EdgeError, PermissionDenied, Unimplemented
from edge.testing.script import Call, Replied
from messages import ReplyMessage, RequestMessage, new_encoder


class FakeRequest:
    """What a handler sees of edge.replies.Request: a test caller with no deadline."""

    def __init__(self, message: RequestMessage, role: str, answer: Callable[[ReplyMessage], None]):
        self.id, self.method, self.body = message.id, message.method, message.body
        self.priority, self.deadline, self.expired = message.priority, None, False
        self.deadline_ns = None
        self.received_ns, self.user_id, self.role = time.monotonic_ns(), "test", role
        self.peer = b"test"
        self._answer, self._deferred = answer, None

    def defer(self) -> "FakeResponder":
        if self._deferred is None:
            self._deferred = FakeResponder(self.id, self._answer)
        return self._deferred


class FakeResponder:
    """Answer-once, like edge.replies.Responder."""

    def __init__(self, request_id: Any, answer: Callable[[ReplyMessage], None]):
        self._id, self._answer, self._lock, self.answered = request_id, answer, threading.Lock(), False

    def reply(self, body: Any = None) -> None:
        self._send(ReplyMessage(self._id, ok=True, body=body))

    def fail(self, error: EdgeError) -> None:
        self._send(ReplyMessage(self._id, ok=False, error=error.to_wire()))

    def _send(self, reply: ReplyMessage) -> None:
        with self._lock:
            if self.answered:
                return
            self.answered = True
        self._answer(reply)


class FakeService:
    """Method table and answers; `replies` is what callers received, in order."""

    def __init__(self, now_s: Callable[[], float]):
        self._now_s = now_s
        self._methods: dict[str, tuple[Callable, str]] = {}
        self._encoder, self._ids = new_encoder(), itertools.count(1)
        self._lock = threading.Lock()
        self.replies: list[Replied] = []

    def add(self, method: str, handler: Callable, role: str) -> None:
        self._methods[method] = (handler, role)

    def handle(self, item: Call) -> None:
        with self._lock:
            wire = RequestMessage(next(self._ids), item.method, item.body).to_frames(self._encoder)
            message = RequestMessage.from_frames([bytes(frame) for frame in wire])
        request = FakeRequest(message, item.role,
                              lambda reply: self._record(message.method, reply))
        handler, role = self._methods.get(message.method, (None, "admin"))
        try:
            if handler is None:
                raise Unimplemented(f"unknown method {message.method!r} (see 'methods')")
            if item.role != "admin" and role != "read":
                raise PermissionDenied(f"{message.method!r} needs an admin key; key 'test' "
                                       f"has role {item.role!r}")
            result = handler(request)
        except EdgeError as exc:
            request.defer().fail(exc)
            return
        if request._deferred is None:
            request.defer().reply(result)

    def _record(self, method: str, reply: ReplyMessage) -> None:
        with self._lock:  # a deferred answer may come from another thread
            frames = [bytes(frame) for frame in reply.to_frames(self._encoder)]
            decoded = ReplyMessage.from_frames(frames)
            self.replies.append(Replied(method, decoded.ok, decoded.body, decoded.error,
                                        self._now_s()))
