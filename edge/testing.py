"""An in-process double for node code: script events in, read what was published out.

    from edge.testing import idle, input_event, run_node
    run = run_node(Camera, params={"fps": 10.0}, events=[idle(1.0)])
    [message.value.frame_id for message in run.outputs("image")]

No sockets and no processes (like dora's MockNode, honcho's scripted FakeProcess and
FakeClock): a FakeNode stands in for `edge.Node` with the surface a node type uses
(params, config, publish, subscribe, timer, next_event, iteration, clock). Its FakeClock
moves only while the script lets time pass (`idle`), so pacing, timers and latencies are
exact. Inputs and published values go through the real codec, so a node sees read-only
arrays as it would off the wire, and a value no subscriber could decode fails here too.
The script ends with Stop unless it delivers one itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional

from edge.config import InputConfig, NodeConfig
from edge.errors import InvalidArgument, NotFound
from edge.node import Event
from edge.nodetype import check_live_value
from edge.timers import Timers
from messages import StreamMessage, new_encoder

MAX_STEPS = 1_000_000  # next_event calls before a loop that never ends is called a bug


class FakeClock:
    """Both clocks a node reads, moved only by `advance`."""

    def __init__(self, monotonic_s: float = 1000.0, time_ns: int = 1_700_000_000_000_000_000):
        self._monotonic_s, self._start_s, self._time_ns = monotonic_s, monotonic_s, time_ns

    def monotonic(self) -> float:
        return self._monotonic_s

    def time_ns(self) -> int:
        return self._time_ns + round((self._monotonic_s - self._start_s) * 1e9)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go back {seconds} s")
        self._monotonic_s += seconds

    @property
    def elapsed_s(self) -> float:
        return self._monotonic_s - self._start_s


@dataclass(frozen=True)
class Idle:
    """Script item: `seconds` pass with no input; timers fire, timeouts expire."""

    seconds: float


idle = Idle


def input_event(name: str, value: Any, *, stamp_ns: int = 0, seq: int = 0, source: str = "test",
                dropped: int = 0) -> Event:
    """A message on input `name`; stamp_ns 0 means "captured now" (the fake clock's now)."""
    return Event("input", name, value, seq=seq, stamp_ns=stamp_ns, source=source,
                 dropped=dropped)


def timer_event(name: str) -> Event:
    return Event("timer", name)


def param_event(key: str, value: Any) -> Event:
    """A live `param set`: checked against the node type's Param like the node service does."""
    return Event("param", key, value)


def stop_event() -> Event:
    return Event("stop", "stop")


@dataclass
class Published:
    """One message as a subscriber would decode it; `at_s` is fake time since the start."""

    output: str
    topic: str
    value: Any
    seq: int
    stamp_ns: int
    pub_ns: int
    at_s: float
    parent: Optional[Event] = None   # the input event it derives from (Node.publish's rule)


class FakeNode:
    """Stands in for edge.Node inside a node type's `run`; see the module docstring."""

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
        self._encoder, self._seq = new_encoder(), {}
        self._received: dict[str, list[int]] = {}   # input -> [received, dropped]
        self._callbacks: dict[tuple[str, str], Callable[[Event], Any]] = {}
        self._steps_left, self._state = max_steps, "running"
        self._handling: Optional[Event] = None   # the input event being handled

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
        message = _over_the_wire(StreamMessage(port.topic, value, seq, pub_ns if stamp_ns is None
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

    def on(self, name: str, callback: Callable[[Event], Any], kind: str | None = None) -> None:
        self._callbacks[(kind or ("stop" if name == "stop" else ""), name)] = callback

    def emit(self, event: Event) -> None:
        self._pending.append(event)

    def stop(self) -> None:
        if self._state == "running":
            self._state = "stopping"

    @property
    def stopping(self) -> bool:
        return self._state != "running"

    def __iter__(self) -> Iterator[Event]:
        while (event := self.next_event()) is not None:
            yield event
            if event.kind == "stop":
                return

    def spin(self) -> None:
        for event in self:
            callback = (self._callbacks.get((event.kind, event.name))
                        or self._callbacks.get(("", event.name)))
            if callback is not None:
                callback(event)

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
            wire = _over_the_wire(StreamMessage(port.topic, event.value, event.seq, stamp_ns,
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


def _over_the_wire(message: StreamMessage, encoder) -> StreamMessage:
    """The message as a subscriber decodes it: real frames, copied like a socket would."""
    return StreamMessage.from_frames([bytes(frame) for frame in message.to_frames(encoder)])


@dataclass
class NodeRun:
    """What one scripted run of a node type left behind."""

    node: FakeNode
    published: list[Published] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)

    def outputs(self, name: str) -> list[Published]:
        """The messages published on output `name`, in order."""
        return [message for message in self.published if message.output == name]

    def values(self, name: str) -> list:
        return [message.value for message in self.outputs(name)]


def run_node(node_type, *, params: dict | None = None, events: Iterable = (),
             inputs: Iterable[str] | dict | None = None,
             outputs: Iterable[str] | dict | None = None, name: str = "node",
             clock: FakeClock | None = None) -> NodeRun:
    """Run `node_type` (an edge.nodetype.NodeType subclass) over a script, in this thread.

    `params` are resolved as a launcher would (defaults, coercion; a problem raises
    InvalidArgument). `inputs` defaults to the inputs the script sends on, `outputs` to
    every declared output; either may be names or {local: topic}. Errors the node type
    raises (a ConfigError, say) propagate.
    """
    script = list(events)
    resolved, problems = node_type.resolve_parameters(params or {})
    if problems:
        raise InvalidArgument(f"node {name!r}: " + "; ".join(problems))
    if inputs is None:
        inputs = list(dict.fromkeys(e.name for e in script
                                    if isinstance(e, Event) and e.kind == "input"))
    if outputs is None:
        outputs = list(node_type.outputs)
    config = NodeConfig(name=name, type=node_type.__name__, parameters=resolved,
                        inputs=_ports(inputs, name, "in"), outputs=_ports(outputs, name, "out"))
    node = FakeNode(config, script, clock, param_specs=node_type.parameters)
    try:
        node_type().run(node)
    finally:
        node.close()
    return NodeRun(node, node.published, dict(node.params), node.stats())


def _ports(ports: Iterable[str] | dict, node: str, direction: str) -> dict:
    if isinstance(ports, dict):
        return dict(ports)
    return {local: local if direction == "in" else f"{node}/{local}" for local in ports}
