"""An ad-hoc node that watches a running graph's topics for `edge measure`.

For every message it records the size on the wire, the age of its capture stamp on arrival
(capture -> here latency), and how many newer source frames had been captured by then
(frames behind). Ground-truth topics are kept by stamp so outputs carrying the same capture
stamp can be scored against them.
"""
from __future__ import annotations

import bisect
import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from edge import Node
from edge.errors import EdgeError
from messages import StreamMessage, new_encoder

log = logging.getLogger("edge.measure")

Scorer = Callable[[Any, Any], Optional[tuple[int, int]]]   # (truth, value) -> (correct, total)
QUEUE_SIZE = 64          # per topic: the probe only records, so it keeps up unless starved
KEPT_STAMPS = 4096       # source stamps and truths remembered for pairing


@dataclass
class TopicLog:
    schema: str = ""
    messages: int = 0
    bytes: int = 0
    sizes: list = field(default_factory=list)
    arrivals_s: list = field(default_factory=list)
    latencies_ms: list = field(default_factory=list)
    frames_behind: list = field(default_factory=list)
    probe_dropped: int = 0
    last_stats: Optional[dict] = None       # a Stats topic's latest values


@dataclass
class Score:
    truth_topic: str
    correct: int = 0
    total: int = 0
    frames: int = 0


class Probe:
    """Watches `topics` from its own thread (which owns the node's sockets) until stopped."""

    def __init__(self, control: str, topics: list[str], *, sources: list[str],
                 truths: dict[str, Scorer], scorers: dict[str, tuple[str, Scorer]],
                 clock: Callable[[], float] = time.monotonic):
        self.control, self.topics, self.sources = control, topics, sources
        self.truths, self.scorers = truths, scorers
        self.logs = {topic: TopicLog() for topic in topics}
        self.scores: dict[tuple[str, str], Score] = {}
        self.recording = False                   # set once warm-up is over
        self._clock, self._start = clock, clock()
        self._stamps = {topic: collections.deque(maxlen=KEPT_STAMPS) for topic in sources}
        self._truth_values = {topic: collections.OrderedDict() for topic in truths}
        self._encoder = new_encoder()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="edge-measure-probe", daemon=True)

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise EdgeError(f"the measuring probe did not subscribe within {timeout_s} s")
        if self._error is not None:
            raise self._error

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        node = None
        try:
            node = Node("edge-measure", control=self.control, handle_signals=False)
            for topic in self.topics:
                node.subscribe(topic, topic=topic, queue_size=QUEUE_SIZE)
        except BaseException as exc:  # handed to the starting thread
            self._error = exc
        self._ready.set()
        if node is None:
            return
        try:
            while not self._stop.is_set():
                event = node.next_event(timeout_s=0.1)
                if event is not None and event.kind == "input":
                    self._record(event)
        finally:
            node.close()

    def _record(self, event) -> None:
        now_ns = time.time_ns()
        topic, value = event.topic, event.value
        if topic in self._stamps:
            self._stamps[topic].append(event.stamp_ns)
        if topic in self._truth_values:
            kept = self._truth_values[topic]
            kept[event.stamp_ns] = value
            while len(kept) > KEPT_STAMPS:
                kept.popitem(last=False)
        if not self.recording:
            return
        entry = self.logs[topic]
        entry.schema = getattr(value, "TYPE", type(value).__name__)
        if entry.schema == "Stats":
            entry.last_stats = dict(value.values)
        size = self._wire_size(event)
        entry.messages += 1
        entry.bytes += size
        entry.sizes.append(size)
        entry.arrivals_s.append(round(self._clock() - self._start, 4))
        entry.latencies_ms.append(round((now_ns - event.stamp_ns) / 1e6, 3))
        entry.probe_dropped += event.dropped
        behind = self._frames_behind(event.stamp_ns)
        if behind is not None and topic not in self._stamps:
            entry.frames_behind.append(behind)
        self._score(topic, event.stamp_ns, value)

    def _wire_size(self, event) -> int:
        """Bytes on the wire: the message encoded again (arrays are not copied to do it)."""
        frames = StreamMessage(event.topic, event.value, event.seq, event.stamp_ns,
                               event.pub_ns, event.source).to_frames(self._encoder)
        return sum(memoryview(frame).nbytes for frame in frames)

    def _frames_behind(self, stamp_ns: int) -> Optional[int]:
        """Source frames captured after this message's frame, as seen so far."""
        for stamps in self._stamps.values():
            ordered = list(stamps)
            at = bisect.bisect_left(ordered, stamp_ns)
            if at < len(ordered) and ordered[at] == stamp_ns:
                return len(ordered) - at - 1
        return None

    def _score(self, topic: str, stamp_ns: int, value: Any) -> None:
        pairs = [(truth, scorer) for truth, scorer in self.truths.items() if truth != topic]
        if topic in self.scorers:
            pairs = [self.scorers[topic]]
        for truth_topic, scorer in pairs:
            truth = self._truth_values.get(truth_topic, {}).get(stamp_ns)
            if truth is None:
                continue
            try:
                result = scorer(truth, value)
            except Exception:  # a user's scoring function must not end the measurement
                log.exception("scoring %s against %s failed", topic, truth_topic)
                continue
            if result is not None:
                score = self.scores.setdefault((topic, truth_topic), Score(truth_topic))
                score.correct += result[0]
                score.total += result[1]
                score.frames += 1
