"""Many forward requests on one DEALER connection: the ZeroMQ counterpart of tritonclient's
`start_stream` / `async_stream_infer`.

Requests go out without waiting; answers come back as each finishes (not in
order) and are matched by request id. The thread that made the stream owns its
socket and collects answers with `get_result`, so no callback thread is needed.
"""
from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import zmq

from edge.endpoints import connect
from edge.errors import EdgeError, Internal, ServiceTimeout, error_from_wire
from messages import CallEncoder, DecodeError, ReplyMessage, RequestMessage
from messages.codec import DEFAULT_LIMITS

from .results import InferInput, InferRequestedOutput, InferResult, infer_feeds, pick_outputs


class ModelStream:
    """`async_stream_infer` queues a request; `get_result` returns the next answer as an
    InferResult, or raises its error (an EdgeError whose `.details["request_id"]` says which)."""

    def __init__(self, endpoint: str, *, context: zmq.Context | None = None) -> None:
        self.endpoint = endpoint
        self._socket = (context or zmq.Context.instance()).socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        connect(self._socket, endpoint)  # CURVE on tcp (edge.security)
        self._encoder = CallEncoder()
        self._prefix = uuid.uuid4().hex[:12]
        self._counter = itertools.count(1)
        self._pending: dict[str, tuple[str, str, list[InferRequestedOutput] | None]] = {}

    @property
    def pending(self) -> int:
        return len(self._pending)

    def async_stream_infer(self, model_name: str, inputs: Iterable[InferInput] | Mapping[
                               str, np.ndarray], *, model_version: str = "",
                           outputs: list[InferRequestedOutput] | None = None,
                           request_id: str = "", priority: int = 0,
                           timeout_s: float | None = None) -> str:
        """Send one request; returns its id (`request_id`, or a fresh one when empty)."""
        feeds = dict(inputs) if isinstance(inputs, Mapping) else infer_feeds(inputs)
        wire_id = f"{self._prefix}:{next(self._counter)}"
        shown = request_id or wire_id
        body: dict[str, Any] = {"name": model_name, "inputs": feeds}
        if model_version:
            body["version"] = model_version
        timeout_ms = None if timeout_s is None else int(timeout_s * 1000)
        frames = self._encoder.frames(RequestMessage(wire_id, "forward", body,
                                                     timeout_ms=timeout_ms, priority=priority))
        self._socket.send_multipart([b"", *frames], copy=False)
        self._pending[wire_id] = (shown, model_name, outputs)
        return shown

    def get_result(self, timeout_s: float = 30.0) -> InferResult:
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            if not self._socket.poll(max(1, int(remaining * 1000)), zmq.POLLIN):
                continue
            frames = self._socket.recv_multipart(copy=False)
            if len(frames) < 2 or len(frames[0]) != 0:
                continue
            try:
                reply = ReplyMessage.from_frames(frames[1:], DEFAULT_LIMITS)
            except DecodeError as exc:
                raise Internal(f"a stream reply could not be decoded: {exc}") from None
            entry = self._pending.pop(reply.id, None)
            if entry is not None:
                return _result(reply, *entry)
        raise ServiceTimeout(f"no stream answer from {self.endpoint} within {timeout_s:g}s "
                             f"({self.pending} pending)")

    def stop_stream(self) -> None:
        """Close the connection; answers still pending are dropped."""
        self._socket.close(linger=0)
        self._pending.clear()

    def __enter__(self) -> ModelStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_stream()


def _result(reply: ReplyMessage, request_id: str, model_name: str,
            outputs: list[InferRequestedOutput] | None) -> InferResult:
    try:
        if not reply.ok:
            raise error_from_wire(reply.error)
        body = reply.body if isinstance(reply.body, dict) else {}
        return InferResult(model_name, "", request_id,
                           pick_outputs(body.get("outputs") or {}, outputs))
    except EdgeError as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        exc.details = {**details, "request_id": request_id}
        raise
