"""FakeNode: edge.Node's surface for node types, in-process on a FakeClock (edge.testing)."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

from edge.config import InputConfig, NodeConfig
from edge.errors import NotFound
from edge.node import Event, EventLoop
from edge.nodetype import check_live_value
from edge.testing.fake_service import FakeService
from edge.testing.script import (Call, FakeClock, Idle, Published, Replied, over_the_wire,
                                 stop_event)
from edge.timers import Timers
from messages import StreamMessage, new_stream_encoder

MAX_STEPS = 1_000_000  # next_event calls before a loop that never ends is called a bug


class FakeNode(EventLoop):
    """Stands in for edge.Node inside a node type's `run`; see edge.testing's docstring.

    Unlike Node's, `spin` lets a callback's exception propagate, so the test sees it."""

    def __init__(self, config: NodeConfig, script: Iterable, clock: FakeClock | None = None,
                 param_specs: dict | None = None, max_steps: int = MAX_STEPS):
        self.config, self.name = config, config.name
        self.params: dict = dict(config.parameters)
        self.param_specs: dict = dict(param_specs or {})
        self.clock = clock or FakeClock()
        self.launched = False
        self.published: list[Published] = []
        self.delivered: list[Event] = []
        self._script, self._idle_until = list(script), None
        self._pending: list[Event] = []
        self._timers = Timers(self.clock.monotonic)
        self._encoder, self._seq = new_stream_encoder(), {}
        self._received: dict[str, list[int]] = {}   # input -> [received, dropped]
        self._callbacks: dict[tuple[str, str], Callable[[Event], Any]] = {}
        self._service = FakeService(lambda: self.clock.elapsed_s)
        self._steps_left, self._state = max_steps, "running"
        self._handling: Optional[Event] = None   # the input event being handled

    @property
    def replies(self) -> list[Replied]:
        """The answers to the script's `call`s, in the order they were given."""
        return self._service.replies

    # -- what node types call ------------------------------------------------------------
    def publish(self, name: str, value: Any, *, stamp_ns: int | None = None,
                parent: Event | None = None) -> int:
        """As Node.publish; the double records the input event it derives from (explicit
        `parent`, else the input event being handled) in Published.parent."""
        port = self.config.outputs.get(name)
        if port is None:
            raise NotFound(f"node {self.name!r} published on {name!r}, which is not one of its "
                           f"outputs ({', '.join(self.config.outputs) or 'none'})")
        seq = self._seq[port.topic] = self._seq.get(port.topic, 0) + 1
        pub_ns = self.clock.time_ns()
        message = over_the_wire(StreamMessage(port.topic, value, seq, pub_ns if stamp_ns is None
                                               else stamp_ns, pub_ns, self.name), self._encoder)
        self.published.append(Published(name, port.topic, message.value, seq, message.stamp_ns,
                                        pub_ns, self.clock.elapsed_s, parent or self._handling))
        return seq

    def subscribe(self, name: str, *, topic: str | None = None, endpoint: str | None = None,
                  queue_size: int | None = None) -> None:
        port = self.config.inputs.get(name) or InputConfig(topic=topic or name)
        self.config.inputs[name] = InputConfig(topic or port.topic, endpoint or port.endpoint,
                                               queue_size or port.queue_size)

    def timer(self, name: str, period_s: float) -> None:
        self._timers.add(name, period_s)

    def serve(self, method: str, handler: Callable, *, role: str = "admin") -> None:
        """Answer the script's `call(method, ...)` items, between two events like Node does."""
        self._service.add(method, handler, role)

    def emit(self, event: Event) -> None:
        self._pending.append(event)

    def stop(self) -> None:
        if self._state == "running":
            self._state = "stopping"

    @property
    def stopping(self) -> bool:
        return self._state != "running"

    def next_event(self, timeout_s: float | None = None) -> Optional[Event]:
        """The next scripted event; inside an `idle`, a due timer, or None once timeout_s passed."""
        self._steps_left -= 1
        if self._steps_left < 0:
            raise AssertionError(f"node {self.name!r} called next_event {MAX_STEPS} times "
                                 "without finishing its script: a loop that never waits?")
        if self._state == "stopped":
            return None
        while True:
            if self._state == "stopping" or (not self._script and not self._pending):
                self._state = "stopped"
                return self._deliver(stop_event())
            if self._pending:
                return self._deliver(self._pending.pop(0))
            item = self._script[0]
            if isinstance(item, Call):
                self._service.handle(self._script.pop(0))
                continue
            if not isinstance(item, Idle):
                self._script.pop(0)
                return self._deliver(self._prepare(item))
            if self._idle_until is None:
                self._idle_until = self.clock.monotonic() + item.seconds
            event, waited = self._pass_time(timeout_s)
            if event is not None or waited:
                return event

    def stats(self) -> dict:
        counts = {name: self._received.get(name, [0, 0]) for name in self.config.inputs}
        return {"inputs": {name: {"topic": port.topic, "received": counts[name][0],
                                  "dropped": counts[name][1]}
                           for name, port in self.config.inputs.items()},
                "outputs": {port.topic: port.endpoint for port in self.config.outputs.values()},
                "published": dict(self._seq)}

    def close(self) -> None:
        self._script.clear()

    # -- the script ------------------------------------------------------------------------
    def _pass_time(self, timeout_s: float | None) -> tuple[Optional[Event], bool]:
        """Inside an idle: (a due timer, _) or (None, True) when the caller's timeout expired."""
        now = self.clock.monotonic()
        until_timer = self._timers.seconds_until_due()
        left = self._idle_until - now
        if until_timer is not None and until_timer <= left \
                and (timeout_s is None or until_timer <= timeout_s):
            self.clock.advance(until_timer)
            return self._deliver(Event("timer", self._timers.pop_due())), False
        if timeout_s is not None and timeout_s <= left:
            self.clock.advance(timeout_s)
            return None, True
        self.clock.advance(max(0.0, left))
        self._script.pop(0)
        self._idle_until = None
        return None, False

    def _prepare(self, event: Event) -> Event:
        if event.kind == "input":
            port = self.config.inputs.get(event.name)
            if port is None:
                raise NotFound(f"the script sends input {event.name!r}, which node {self.name!r} "
                               f"does not read ({', '.join(self.config.inputs) or 'none'})")
            stamp_ns = event.stamp_ns or self.clock.time_ns()
            wire = over_the_wire(StreamMessage(port.topic, event.value, event.seq, stamp_ns,
                                                self.clock.time_ns(), event.source), self._encoder)
            counts = self._received.setdefault(event.name, [0, 0])
            counts[0], counts[1] = counts[0] + 1, counts[1] + event.dropped
            return Event("input", event.name, wire.value, port.topic, event.seq, stamp_ns,
                         wire.pub_ns, event.source, event.dropped)
        if event.kind == "param":
            return Event("param", event.name, self._set_param(event.name, event.value))
        if event.kind == "stop":
            self._state = "stopped"
        return event

    def _set_param(self, key: str, value: Any) -> Any:
        """Checked as the supervisor and a real node check it (edge.nodetype)."""
        self.params[key] = check_live_value(self.name, self.param_specs, key, value)
        return self.params[key]

    def _deliver(self, event: Event) -> Event:
        self.delivered.append(event)
        self._handling = event if event.kind == "input" else None
        return event
