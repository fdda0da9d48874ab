"""An asyncio client: many calls in flight on one DEALER connection, no thread per call.

    async with AsyncModelManagerClient("ipc:///run/edge/mm.sock") as client:
        outputs = await asyncio.gather(*(client.forward("det", {"x": x}) for x in images))

Replies are matched to calls by request id by one reader task. A call that gets no reply
within `timeout_s` is sent again with the same id (the service answers a string id once,
so nothing runs twice), then raises ServiceTimeout, as the sync client does.
"""
from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
import zmq
import zmq.asyncio

from edge.endpoints import connect
from edge.errors import ServiceTimeout, error_from_wire
from messages import CallEncoder, DecodeError, ReplyMessage, RequestMessage
from messages.codec import DEFAULT_LIMITS

from .client import ADMIN_TIMEOUT_S, QUICK_TIMEOUT_S, _metadata, _tensor, model_ref
from .results import InferInput, InferRequestedOutput, InferResult, infer_feeds, pick_outputs


class AsyncModelManagerClient:
    """Timeouts as ModelManagerClient's: a stated `timeout_s` bounds admin calls too."""

    def __init__(self, endpoint: str, *, timeout_s: float | None = None,
                 admin_timeout_s: float | None = None, retries: int = 2) -> None:
        self.endpoint = endpoint
        self.timeout_s = QUICK_TIMEOUT_S if timeout_s is None else timeout_s
        self.admin_timeout_s = (admin_timeout_s if admin_timeout_s is not None
                                else ADMIN_TIMEOUT_S if timeout_s is None else timeout_s)
        self.retries = retries
        self._context = zmq.asyncio.Context.instance()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        connect(self._socket, endpoint)  # CURVE on tcp (edge.security)
        self._encoder = CallEncoder()
        self._prefix = uuid.uuid4().hex[:12]
        self._counter = itertools.count(1)
        self._waiting: dict[str, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        self._socket.close(linger=0)
        for future in self._waiting.values():
            future.cancel()

    async def __aenter__(self) -> AsyncModelManagerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(self, method: str, body: Any = None, *, timeout_s: float | None = None,
                   retries: int | None = None, priority: int = 0) -> Any:
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        retries = self.retries if retries is None else retries
        request = RequestMessage(f"{self._prefix}:{next(self._counter)}", method, body,
                                 timeout_ms=int(timeout_s * 1000), priority=priority)
        frames = [b"", *self._encoder.frames(request)]
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting[request.id] = future
        try:
            for _attempt in range(retries + 1):
                self._start_reader()
                deadline = loop.time() + timeout_s
                try:  # the send counts too: it waits while no connection is up (CURVE, tcp)
                    await asyncio.wait_for(self._socket.send_multipart(frames, copy=False),
                                           timeout_s)
                    reply = await asyncio.wait_for(asyncio.shield(future),
                                                   max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    continue
                if reply.ok:
                    return reply.body
                raise error_from_wire(reply.error)
        finally:
            self._waiting.pop(request.id, None)
        raise ServiceTimeout(f"no reply from {self.endpoint} to {method!r} after "
                             f"{retries + 1} attempt(s)")

    # -- the calls of ModelManagerClient that matter in a loop -----------------------------
    async def forward(self, model_uid: str, inputs: Mapping[str, np.ndarray], *,
                      priority: int = 0, timeout_s: float | None = None,
                      version: str | None = None) -> dict[str, np.ndarray]:
        body = {**model_ref(model_uid, version), "inputs": dict(inputs)}
        return (await self.call("forward", body, priority=priority,
                                timeout_s=timeout_s))["outputs"]

    async def infer(self, model_name: str, inputs: list[InferInput], *, model_version: str = "",
                    outputs: list[InferRequestedOutput] | None = None, request_id: str = "",
                    priority: int = 0, client_timeout: float | None = None) -> InferResult:
        got = await self.forward(model_name, infer_feeds(inputs), version=model_version or None,
                                 priority=priority, timeout_s=client_timeout)
        return InferResult(model_name, model_version, request_id, pick_outputs(got, outputs))

    async def upload_model(self, model_data: bytes, metadata: Any = None) -> str:
        """One message: the service's header limit does not apply to the tensor frame."""
        body = {"model_data": _tensor(memoryview(model_data).cast("B")),
                "metadata": _metadata(metadata)}
        return (await self.call("upload_model", body, timeout_s=self.admin_timeout_s))["uid"]

    async def load_models(self, uids: list[str], config: Mapping[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"uids": list(uids)}
        if config is not None:
            body["config"] = dict(config)
        await self.call("load_models", body, timeout_s=self.admin_timeout_s)

    async def unload_models(self, uids: list[str]) -> None:
        await self.call("unload_models", {"uids": list(uids)}, timeout_s=self.admin_timeout_s)

    async def is_server_live(self, timeout_s: float = 1.0) -> bool:
        try:
            return bool((await self.call("is_server_live", {}, timeout_s=timeout_s,
                                         retries=0))["live"])
        except ServiceTimeout:
            return False

    async def is_model_ready(self, model: str, version: str | None = None) -> bool:
        return (await self.call("is_model_ready", model_ref(model, version)))["ready"]

    async def get_inference_statistics(self, uids: list[str] | None = None) -> list[dict]:
        body = {} if uids is None else {"uids": list(uids)}
        return (await self.call("get_inference_statistics", body))["models"]

    # -- internals ---------------------------------------------------------------------------
    def _start_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        """Until no call waits: a reply for a finished (timed-out) call is dropped."""
        while self._waiting:
            if not await self._socket.poll(100, zmq.POLLIN):
                continue
            frames = await self._socket.recv_multipart(copy=False)
            if len(frames) < 2 or len(frames[0]) != 0:
                continue
            try:
                reply = ReplyMessage.from_frames(frames[1:], DEFAULT_LIMITS)
            except DecodeError:
                continue  # its caller times out; a corrupt reply cannot be attributed safely
            future = self._waiting.get(reply.id)
            if future is not None and not future.done():
                future.set_result(reply)
