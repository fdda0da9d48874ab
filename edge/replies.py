"""Retried requests are answered once: a retry gets the first run's reply.

Only string request ids take part: clients that retry (edge.Client) send ids that are
unique per client, while plain REQ peers often number from 1 and would collide.
"""
from __future__ import annotations

import collections
from typing import Any, Optional

import zmq


class ReplyCache:
    def __init__(self, max_bytes: int = 64 << 20, max_inflight: int = 10_000):
        self._max_bytes, self._max_inflight = max_bytes, max_inflight
        self._inflight: collections.OrderedDict = collections.OrderedDict()  # id -> newest envelope
        self._done: collections.OrderedDict = collections.OrderedDict()  # id -> (frames, bytes)
        self._bytes = 0

    def replay(self, request_id: Any, envelope: list, socket: zmq.Socket) -> bool:
        """True when this request was seen before: answered again now, or when it finishes."""
        if not isinstance(request_id, str):
            return False
        if request_id in self._inflight:
            self._inflight[request_id] = envelope  # answer the retry's fresh socket
            return True
        done = self._done.get(request_id)
        if done is not None:
            self._done.move_to_end(request_id)
            socket.send_multipart(envelope + done[0], copy=False)
            return True
        self._inflight[request_id] = envelope
        if len(self._inflight) > self._max_inflight:
            self._inflight.popitem(last=False)
        return False

    def finish(self, request_id: Any, frames: list) -> Optional[list]:
        """Remember the reply; return the envelope of the newest attempt, if any."""
        envelope = self._inflight.pop(request_id, None) if isinstance(request_id, str) else None
        if envelope is None:
            return None
        size = sum(len(memoryview(f)) for f in frames)
        if size <= self._max_bytes:
            self._done[request_id] = (frames, size)
            self._bytes += size
            while self._bytes > self._max_bytes:
                _, (_, old_size) = self._done.popitem(last=False)
                self._bytes -= old_size
        return envelope
