"""What a script for edge.testing is made of: the fake clock, the items a script lists
(inputs, timers, params, Stop, idle time, calls) and what a run leaves (Published, Replied)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from edge.node import Event
from messages import StreamMessage


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


@dataclass(frozen=True)
class Call:
    """Script item: a client calls `method` on the node's service (see FakeNode.serve);
    `role` is the caller key's role ("read" may call only read methods)."""

    method: str
    body: Any = None
    role: str = "admin"


call = Call


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


@dataclass
class Replied:
    """One answer as the caller decodes it: `body` when ok, else `error` {code, message};
    `at_s` is fake time since the start."""

    method: str
    ok: bool
    body: Any
    error: dict
    at_s: float


def over_the_wire(message: StreamMessage, encoder) -> StreamMessage:
    """The message as a subscriber decodes it: real frames, copied like a socket would."""
    return StreamMessage.from_frames([bytes(frame) for frame in message.to_frames(encoder)])
