"""The Node API: publish, subscribe, timers, parameters and one Stop, as events or callbacks.

    node = Node("probe")
    node.subscribe("camera/image")
    for event in node:
        if event.kind == "input":
            node.publish("probe/mean", event.value.data.mean())

One thread runs a node: the thread that iterates it owns its sockets.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import numpy as np
import zmq

from edge.bus import QUEUE_BYTES, has_data
from edge.inputs import Input
from edge.config import InputConfig, NodeConfig, claim as claim_launched_config, trail_from_env
from edge.endpoints import ipc_endpoint
from edge.lookup import Lookup
from edge.memory.allocator import tune_allocator
from edge.node_service import NodeService
from edge.outputs import Outputs
from edge.ratelimit import RateLimitedLog
from edge.signals import StopSignals
from edge.timers import SYSTEM_CLOCK, Timers
from messages import Limits
from messages.codec import STREAM_LIMITS

log = logging.getLogger("edge.node")


@dataclass(slots=True)
class Event:
    """What a node reacts to. kind: "input", "timer", "param" or "stop" (delivered once)."""

    kind: str
    name: str = ""
    value: Any = None
    topic: str = ""
    seq: int = 0
    stamp_ns: int = 0    # capture time, carried unchanged through every hop (time.time_ns clock)
    pub_ns: int = 0      # when the upstream node published it
    source: str = ""     # publishing node
    dropped: int = 0     # messages on this input never delivered since its previous event
    trail: Optional[list] = None  # the message's hops [[node, recv_ns, pub_ns], ...] if it has one
    recv_ns: int = 0     # when this node got the event (time.time_ns clock); a trail hop's recv_ns


class EventLoop:
    """`for event in node` and `spin()` over `next_event()`, for Node and edge.testing's
    FakeNode alike: iteration ends after the one Stop; `spin` runs the `on` callbacks."""

    _callbacks: dict[tuple[str, str], Callable[[Event], Any]]

    def next_event(self, timeout_s: float | None = None) -> Optional[Event]:
        raise NotImplementedError

    def on(self, name: str, callback: Callable[[Event], Any], kind: str | None = None) -> None:
        """Call `callback(event)` from `spin()` for events named `name` ("stop" for the Stop)."""
        self._callbacks[(kind or ("stop" if name == "stop" else ""), name)] = callback

    def __iter__(self) -> Iterator[Event]:
        while (event := self.next_event()) is not None:
            yield event
            if event.kind == "stop":
                return

    def spin(self) -> None:
        """Run callbacks until Stop; events without a callback are ignored."""
        for event in self:
            callback = (self._callbacks.get((event.kind, event.name))
                        or self._callbacks.get(("", event.name)))
            if callback is not None:
                self._call(callback, event)

    def _call(self, callback: Callable[[Event], Any], event: Event) -> None:
        callback(event)


class Node(EventLoop):
    """A process's handle on the graph, configured by its arguments or by `config`.

    `edge.run` hands a launched node its NodeConfig (`launched=True`); whether a node is
    launched is never read from the environment.
    """

    def __init__(self, name: Optional[str] = None, *, inputs: dict | None = None,
                 outputs: dict | None = None, parameters: dict | None = None,
                 endpoint: str | None = None, control: str | None = None,
                 config: NodeConfig | None = None, context: zmq.Context | None = None,
                 limits: Limits = STREAM_LIMITS, handle_signals: bool = True,
                 trail: bool | None = None):
        tune_allocator()  # before the first frame arrives; see edge/memory/allocator.py
        if config is None:
            config = claim_launched_config(name) or NodeConfig(
                name=name or f"node-{os.getpid()}", inputs=inputs or {}, outputs=outputs or {},
                parameters=parameters or {}, endpoint=endpoint, control=control)
        if trail is not None:
            config.trail = trail
        self.config = config
        # (trail, recv_ns) of the input event being handled: publish's default parent. Not the
        # event itself, which would keep its frame (and a shared-memory lock) alive.
        self._handling: Optional[tuple] = None
        self.name = config.name
        self.launched = config.launched
        self.params: dict = dict(config.parameters)
        self.param_specs: dict = {}  # filled in by the node type runner: key -> edge.nodetype.Param
        self.clock = SYSTEM_CLOCK    # node types pace and stamp with it; edge.testing fakes it
        self._context = context or zmq.Context.instance()
        self._limits = limits
        self.handler_errors = 0  # callbacks that raised on timer, param or stop events
        self._handler_warnings = RateLimitedLog(log, per_interval=3)
        self._owner = threading.get_ident()
        self._inputs: dict[str, Input] = {}
        self._input_list: tuple[Input, ...] = ()  # the same, for the per-event loops
        self._by_socket: dict[zmq.Socket, Input] = {}  # the same, by the socket a poll returns
        self._callbacks: dict[tuple[str, str], Callable[[Event], Any]] = {}
        self._pending: list[Event] = []  # param events waiting for delivery
        self._round_robin = 0
        self._timers = Timers()
        self._lookup = Lookup(config, self._context)
        self._outputs = Outputs(config, self._context, config.trail if config.trail is not None
                                else trail_from_env(), self._lookup.output)
        self._poller = zmq.Poller()
        self._signals = StopSignals(self._request_stop, enabled=handle_signals)
        self._poller.register(self._signals.wake_fd, zmq.POLLIN)
        self._stop_state = "running"  # -> "stopping" -> "stopped"
        self.stop_signal: Optional[int] = None
        self._service: Optional[NodeService] = None
        self._ready_sent = False
        for local, port in config.inputs.items():
            self.subscribe(local)
        if config.service:
            self._ensure_service()

    # -- outputs (edge.outputs) -----------------------------------------------------------
    def publish(self, name: str, value: Any, *, stamp_ns: int | None = None,
                parent: Event | None = None) -> int:
        """Publish on a local output name or a global topic; returns the message seq.

        Pass the input's `stamp_ns` on to keep capture time through the hop. `parent` is the
        input event the value was derived from (default: the input event being handled,
        i.e. the last one this node's loop returned); its trail, if any, is carried on.
        """
        self._check_thread()
        return self._outputs.publish(name, value, stamp_ns, self._handling if parent is None
                                     else (parent.trail, parent.recv_ns))

    def loan(self, shape, dtype=np.uint8) -> np.ndarray:
        """A writable array in shared memory to fill and then publish (once) on any output.

        On an output with transport shm, local readers get a read-only view of it without
        a copy; elsewhere it is sent as a copy. Do not write to it after publishing.
        """
        self._check_thread()
        return self._outputs.loan(shape, dtype)

    def bind_outputs(self) -> None:
        """Bind every configured output now, so subscribers can connect before data flows."""
        self._outputs.bind()

    @property
    def endpoints(self) -> dict:
        """topic -> bound endpoint for every configured output bound so far (binds nothing)."""
        return self._outputs.endpoints

    # -- inputs, timers, callbacks -------------------------------------------------------
    def subscribe(self, name: str, *, topic: str | None = None, endpoint: str | None = None,
                  queue_size: int | None = None, queue_bytes: int | None = None,
                  max_message_bytes: int | None = None, max_age_s: float | None = None,
                  transport: str | None = None, overflow: str | None = None) -> Input:
        """Read a topic. `name` is the event name: a local input name or the topic itself.

        Limits not given come from the input's config (launch file), else the defaults:
        `queue_bytes` 64 MiB, `max_message_bytes` 64 MiB, `max_age_s` 1 s when latest-only.
        `transport` (zmq|shm) and `overflow` (drop_oldest|drop_newest) likewise.
        """
        self._check_thread()
        port = self.config.inputs.get(name) or InputConfig(topic=topic or name)
        topic = topic or port.topic
        server_key = None  # CURVE: None means found by address, or this user's own key
        if not (endpoint or port.endpoint):
            endpoint, server_key = self._lookup.input_route(topic)
        endpoint = endpoint or port.endpoint
        queue_size = queue_size or port.queue_size
        max_message_bytes = max_message_bytes or port.max_message_bytes
        limits = (self._limits if max_message_bytes is None
                  else self._limits.replace(max_total_bytes=max_message_bytes))
        if name in self._inputs:
            self._unsubscribe(name)
        source = Input(self._context, name, topic, endpoint, queue_size=queue_size, limits=limits,
                       queue_bytes=queue_bytes or port.queue_bytes or QUEUE_BYTES,
                       max_age_s=max_age_s if max_age_s is not None else port.max_age_s,
                       server_key=server_key, transport=transport or port.transport,
                       overflow=overflow or port.overflow)
        self._inputs[name] = source
        self._input_list = tuple(self._inputs.values())
        self._by_socket[source.socket] = source
        self._poller.register(source.socket, zmq.POLLIN)
        return source

    def _unsubscribe(self, name: str) -> None:
        source = self._inputs.pop(name)
        self._input_list = tuple(self._inputs.values())
        self._by_socket.pop(source.socket, None)
        self._poller.unregister(source.socket)
        source.close()

    def timer(self, name: str, period_s: float) -> None:
        """Deliver a "timer" event named `name` every `period_s`, without drift."""
        self._timers.add(name, period_s)

    def serve(self, method: str, handler: Callable, *, role: str = "admin") -> None:
        """Answer `method` requests on this node's service endpoint, from its own loop.

        `role="read"` lets read-only keys call it too (edge.security)."""
        self._ensure_service().add(method, handler, role=role)

    def _ensure_service(self) -> NodeService:
        if self._service is None:
            endpoint = self.config.service or ipc_endpoint(f"{self.name}-{os.getpid()}-svc")
            self._service = NodeService(
                self.name, endpoint, self._context, params=lambda: self.params,
                param_specs=lambda: self.param_specs, stats=self.stats,
                on_change=lambda key, value: self.emit(Event("param", key, value)))
            for item, flags in self._service.poll_items():
                self._poller.register(item, flags)
        return self._service

    @property
    def service_endpoint(self) -> Optional[str]:
        """Where this node answers param/stats requests, once it serves any."""
        return self._service.endpoint if self._service is not None else None

    def emit(self, event: Event) -> None:
        """Queue an event for this node's loop (used for live parameter changes)."""
        self._pending.append(event)

    # -- the loop --------------------------------------------------------------------------
    def _call(self, callback: Callable[[Event], Any], event: Event) -> None:
        """A failing callback is counted and logged (rate-limited); the node keeps running."""
        try:
            callback(event)
        except Exception as exc:
            source = self._inputs.get(event.name) if event.kind == "input" else None
            if source is not None:
                source.stats.handler_errors += 1
                warnings = source.warnings
            else:
                self.handler_errors += 1
                warnings = self._handler_warnings
            warnings.warning("node %r: callback for %s %r failed: %r", self.name, event.kind,
                             event.name, exc, exc_info=exc)

    def next_event(self, timeout_s: float | None = None) -> Optional[Event]:
        """The next event, None on timeout or after Stop was delivered."""
        self._check_thread()
        if not self._ready_sent:
            self._announce_ready()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        fresh = False  # just polled: every socket with data has been drained
        while True:
            if self._stop_state != "running":
                return self._stop_event()
            if not fresh and self._queued():  # refresh first, so latest-only stays latest
                self._collect()
            event = self._ready_event()
            if event is not None:
                self._handling = (event.trail, event.recv_ns) if event.kind == "input" else None
                return event
            wait_s = self._timers.seconds_until_due()
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if fresh:
                        return None
                    self._collect()  # not looked yet: an EVENTS query costs less than a poll
                    fresh = True
                    continue
                wait_s = remaining if wait_s is None else min(wait_s, remaining)
            self._poll(-1 if wait_s is None else 0 if wait_s <= 0 else int(wait_s * 1000) + 1)
            fresh = True

    def _queued(self) -> bool:
        """Whether an input holds messages; if none does, the poll below finds any that came
        (one system call for every socket, rather than an EVENTS query per input first).
        An input whose last drain stopped early (Input.drain) reads the rest first."""
        queued = False
        for source in self._input_list:
            if source.unread:
                source.drain()
            queued = queued or bool(source.queue)
        return queued

    def _collect(self) -> None:
        """Without blocking, drain inputs that have data (so latest-only stays latest)."""
        for source in self._input_list:
            if has_data(source.socket):
                source.drain()
        if self._service is not None and self._service.pending():
            self._service.process()

    def _poll(self, timeout_ms: int) -> None:
        for item, _ in self._poller.poll(timeout_ms):
            if item == self._signals.wake_fd:
                self._signals.clear()
            elif self._service is not None and self._service.owns(item):
                self._service.process()
            else:
                source = self._by_socket.get(item)
                if source is not None:
                    source.drain(readable=True)

    def _ready_event(self) -> Optional[Event]:
        if self._pending:
            return self._pending.pop(0)
        due = self._timers.pop_due()
        if due is not None:
            return Event("timer", due)
        inputs = self._input_list
        for offset in range(len(inputs)):  # round robin: a busy input cannot starve the others
            index = (self._round_robin + offset) % len(inputs)
            message = inputs[index].pop()
            if message is not None:
                self._round_robin = index + 1
                return Event("input", inputs[index].name, message.value, message.topic, message.seq,
                             message.stamp_ns, message.pub_ns, message.source,
                             inputs[index].take_drops(), message.trail, time.time_ns())
        return None

    def _stop_event(self) -> Optional[Event]:
        if self._stop_state == "stopping":
            self._stop_state = "stopped"
            return Event("stop", "stop", self.stop_signal)
        return None

    # -- stopping --------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to deliver Stop; safe from any thread and from signal handlers."""
        self._request_stop(None)

    def _request_stop(self, signum: Optional[int]) -> None:
        if self._stop_state == "running":
            self.stop_signal = signum
            self._stop_state = "stopping"
        self._signals.wake()

    @property
    def stopping(self) -> bool:
        return self._stop_state != "running"

    def stats(self) -> dict:
        return {"inputs": {name: {"topic": source.topic, **source.stats.as_dict()}
                           for name, source in self._inputs.items()},
                "outputs": {port.topic: port.endpoint for port in self.config.outputs.values()},
                "published": self._outputs.published,
                "handler_errors": self.handler_errors}

    def _announce_ready(self) -> None:
        if not self._ready_sent:
            self._ready_sent = True
            if self.launched:
                self.bind_outputs()
                self._lookup.announce_ready(self)

    def _check_thread(self) -> None:
        if threading.get_ident() != self._owner:
            raise RuntimeError(f"node {self.name!r} is used from a second thread; "
                               "one thread owns a node's sockets")

    def close(self) -> None:
        """Close every socket (linger 0) and remove this node's ipc files; once."""
        if self._signals.wake_fd < 0:
            return  # closed already
        for source in list(self._inputs.values()):
            source.close()
        self._outputs.close()
        if self._service is not None:
            self._service.close()
        self._inputs.clear()
        self._input_list = ()
        self._by_socket.clear()
        self._signals.close()

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
