"""`edge bag play`: publish a recording into a running graph with its original timing.

Each played topic must be declared `external` in the graph's launch file: the player binds
that endpoint, where the graph's subscribers already connect. An XPUB socket sees their
subscriptions, so playback starts once they are connected instead of after a guess.
Messages go out with their recorded frames; only `pub_ns` (and with restamp, `stamp_ns`)
is rewritten in the header, and a trail's times move with `pub_ns` (restamp drops it).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

import zmq

from edge.bag.layout import rewrite_header
from edge.bag.reader import BagMessage
from edge.bus import ASSUMED_MESSAGE_BYTES, QUEUE_BYTES, headroom, hwm_for
from edge.endpoints import bind, remove_ipc
from edge.errors import FailedPrecondition, InvalidArgument
from edge.launch.control import ControlClient
from edge.signals import StopSignals
from messages.trail import shifted

CLOSE_LINGER_MS = 2000   # the final messages still go out; a gone subscriber cannot hold us
REBIND_WAIT_S = 5.0      # how long a re-sized socket waits for its subscribers to come back


@dataclass
class PlayStats:
    messages: int = 0
    bytes: int = 0
    loops: int = 0
    per_topic: dict = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.messages} msgs  {self.bytes / 1e6:.1f} MB" + (
            f"  loop {self.loops + 1}" if self.loops else "")


def parse_remap(pairs: Iterable[str]) -> dict:
    """["a:=b", ...] -> {"a": "b"}."""
    remap = {}
    for pair in pairs:
        old, sep, new = pair.partition(":=")
        if not sep or not old or not new:
            raise InvalidArgument(f"--remap {pair!r}: expected OLD:=NEW")
        remap[old] = new
    return remap


def resolve_external(control: Optional[str], topics: Iterable[str]) -> dict:
    """topic -> the endpoint the graph's subscribers connect to; every topic must be external."""
    found = {}
    with ControlClient(control) as graph:
        for topic in topics:
            route = graph.resolve(topic)
            if not route.get("external"):
                raise FailedPrecondition(
                    f"topic {topic!r} is published by node {route.get('publisher')!r} in the running "
                    "graph; declare it under `external:` in the launch file to play it "
                    "(or choose topics with --topics / rename with --remap)")
            found[topic] = route["endpoint"]
    return found


class Player:
    """Owns one XPUB socket bound to every played topic's endpoint.

    It holds at most `queue_bytes` per subscriber, like a publisher of the bus (edge.bus):
    HWM 1000 until a bigger message than 64 KiB comes, then queue_bytes / size. A new HWM
    needs new pipes, so before sending that message the player rebinds and waits until as
    many subscribers as before are back (they reconnect by themselves): nothing is lost.
    """

    def __init__(self, endpoints: dict, *, remap: dict | None = None, context: zmq.Context | None = None,
                 handle_signals: bool = True, queue_bytes: int = QUEUE_BYTES):
        self.remap = dict(remap or {})
        self.endpoints = dict(endpoints)       # output topic -> endpoint
        self.stats = PlayStats()
        self.queue_bytes, self._sized_for = queue_bytes, ASSUMED_MESSAGE_BYTES
        self.hwm = hwm_for(queue_bytes, self._sized_for)
        self._context = context or zmq.Context.instance()
        self._socket = self._open()
        self._bound = [bind(self._socket, endpoint) for endpoint in sorted(set(self.endpoints.values()))]
        self._subscribers: dict[bytes, int] = {}
        self._stopping = False
        self._signals = StopSignals(lambda signum: self.stop(), enabled=handle_signals)
        self._poller = zmq.Poller()
        self._poller.register(self._socket, zmq.POLLIN)
        self._poller.register(self._signals.wake_fd, zmq.POLLIN)

    def _open(self) -> zmq.Socket:
        socket = self._context.socket(zmq.XPUB)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.SNDHWM, self.hwm)
        socket.setsockopt(zmq.XPUB_VERBOSE, 1)   # every subscriber's subscription, not just the first
        return socket

    def _fit(self, message_bytes: int) -> None:
        """Before sending a bigger message than assumed: a smaller HWM, on new pipes."""
        if message_bytes <= self._sized_for:
            return
        self._sized_for = headroom(message_bytes)
        hwm = hwm_for(self.queue_bytes, self._sized_for)
        if hwm >= self.hwm:
            return
        self.hwm, counts = hwm, dict(self._subscribers)
        self._poller.unregister(self._socket)
        self._socket.close(linger=CLOSE_LINGER_MS)   # what was sent still goes out
        self._socket, self._subscribers = self._open(), {}
        deadline = time.monotonic() + REBIND_WAIT_S
        for endpoint in self._bound:
            while True:
                try:
                    bind(self._socket, endpoint)
                    break
                except zmq.ZMQError as exc:   # the old socket may hold a tcp port a moment
                    if exc.errno != zmq.EADDRINUSE or time.monotonic() > deadline:
                        raise
                    time.sleep(0.005)
        self._poller.register(self._socket, zmq.POLLIN)
        while not self._stopping and time.monotonic() < deadline and any(
                self._subscribers.get(topic, 0) < count for topic, count in counts.items()):
            self._wait(deadline - time.monotonic())

    def stop(self) -> None:
        self._stopping = True
        self._signals.wake()

    def wait_for_subscribers(self, count: int, timeout_s: float) -> list[str]:
        """Wait until every topic has `count` subscribers; returns the topics that have fewer."""
        deadline = time.monotonic() + timeout_s
        while not self._stopping:
            missing = [t for t in self.endpoints if self._subscribers.get(t.encode(), 0) < count]
            remaining_s = deadline - time.monotonic()
            if not missing or remaining_s <= 0:
                return missing
            self._wait(remaining_s)
        return []

    def play(self, messages: Callable[[], Iterable[BagMessage]], *, rate: float = 1.0,
             loop: bool = False, restamp: bool = False,
             progress: Callable[[PlayStats], None] | None = None) -> PlayStats:
        """Send every message at its recorded offset / rate; `messages()` starts a pass."""
        if rate <= 0:
            raise InvalidArgument(f"--rate must be > 0, got {rate}")
        start, offset_ns = time.monotonic(), 0
        while not self._stopping:
            first_ns = last_ns = None
            count = 0
            for item in messages():
                first_ns = item.log_time_ns if first_ns is None else first_ns
                last_ns = item.log_time_ns
                if not self.wait_until(start + (offset_ns + last_ns - first_ns) / 1e9 / rate):
                    return self.stats
                self._send(item, restamp)
                count += 1
                if progress is not None and self.stats.messages % 50 == 0:
                    progress(self.stats)
            if not loop or last_ns is None:
                break
            self.stats.loops += 1
            span_ns = last_ns - first_ns
            offset_ns += span_ns + (span_ns // (count - 1) if count > 1 else 0)  # one mean interval
        return self.stats

    def _send(self, item: BagMessage, restamp: bool) -> None:
        now_ns = time.time_ns()
        fields = {"pub_ns": now_ns, **({"stamp_ns": now_ns} if restamp else {})}
        trail = item.message.trail
        if trail is not None:  # re-timed with pub_ns, so its hops still end at this publish
            fields["trail"] = None if restamp else shifted(trail, now_ns - item.message.pub_ns)
        topic = self.remap.get(item.topic, item.topic)
        self.send_frames([topic.encode(), rewrite_header(item.frames[0], **fields), *item.frames[1:]])

    def send_frames(self, frames: list) -> None:
        """Send one stream message's frames [topic, header, *buffers] as they are."""
        topic = bytes(frames[0]).decode()
        size = sum(len(frame) for frame in frames)
        self._fit(size)
        self._socket.send_multipart(frames, copy=False)
        self.stats.messages += 1
        self.stats.bytes += size
        self.stats.per_topic[topic] = self.stats.per_topic.get(topic, 0) + 1

    def wait_until(self, due: float) -> bool:
        """Sleep until `due` (monotonic), serving subscriptions; False once stopping."""
        while not self._stopping:
            remaining_s = due - time.monotonic()
            if remaining_s <= 0:
                return True
            self._wait(remaining_s)
        return False

    def _wait(self, timeout_s: float) -> None:
        for item, _ in self._poller.poll(max(0, int(timeout_s * 1000))):
            if item == self._signals.wake_fd:
                self._signals.clear()
            else:
                self._take_subscriptions()

    def _take_subscriptions(self) -> None:
        while True:
            try:
                event = self._socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if event[:1] in (b"\x00", b"\x01"):
                delta = 1 if event[:1] == b"\x01" else -1
                self._subscribers[event[1:]] = max(0, self._subscribers.get(event[1:], 0) + delta)

    def close(self) -> None:
        """Close after the last messages left (at most CLOSE_LINGER_MS), then unbind."""
        self._socket.close(linger=CLOSE_LINGER_MS)
        for endpoint in self._bound:
            remove_ipc(endpoint)
        self._signals.close()
