"""General-purpose node types for wiring, debugging and recording graphs.

    ticker    publishes a counter at a fixed rate (a heartbeat, or a test source)
    relay     re-publishes its input on another topic, optionally thinned or rate-limited
    echo      prints what arrives, so it shows up in `edge launch`'s prefixed log
    recorder  writes every message to an MCAP file (as `edge bag record` does)
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from edge.nodetype import NodeType, Param, Port


class Ticker(NodeType):
    """Publishes [n] (int64) at `rate_hz`, n = 1, 2, ...; stops after `count` if > 0."""

    outputs = {"tick": Port(dtype="int64", shape=[1], help="the counter")}
    parameters = {
        "rate_hz": Param(float, default=10.0, runtime=True, minimum=0.001, maximum=1e6,
                         help="messages per second"),
        "count": Param(int, default=0, help="stop after this many messages (0: never)"),
    }

    def run(self, node) -> None:
        rate_hz, count, sent = node.params["rate_hz"], node.params["count"], 0
        node.timer("tick", 1.0 / _positive(rate_hz, "rate_hz"))
        for event in node:
            if event.kind == "timer":
                sent += 1
                node.publish("tick", np.array([sent], dtype=np.int64))
                if count and sent >= count:
                    return
            elif event.kind == "param" and event.name == "rate_hz":
                if event.value > 0:
                    node.timer("tick", 1.0 / event.value)
                else:
                    print(f"ignoring rate_hz {event.value}: must be > 0", flush=True)


class Relay(NodeType):
    """Forwards `in` to `out` unchanged (capture stamp kept): every n-th, at most max_rate_hz."""

    inputs = {"in": Port(help="anything")}
    outputs = {"out": Port(help="what came in")}
    parameters = {
        "every": Param(int, default=1, runtime=True, help="forward every n-th message"),
        "max_rate_hz": Param(float, default=0.0, runtime=True, help="rate limit (0: none)"),
    }

    def run(self, node) -> None:
        seen, last_sent = 0, float("-inf")
        for event in node:
            if event.kind != "input":
                continue
            seen += 1
            if seen % max(1, node.params["every"]):
                continue
            max_rate_hz = node.params["max_rate_hz"]
            now = time.monotonic()
            if max_rate_hz > 0 and now - last_sent < 1.0 / max_rate_hz:
                continue
            last_sent = now
            node.publish("out", event.value, stamp_ns=event.stamp_ns)


class Echo(NodeType):
    """Prints each message (arrays summarised) with its seq, source and age."""

    inputs = {"in": Port(help="anything")}
    parameters = {"every": Param(int, default=1, runtime=True, help="print every n-th message")}

    def run(self, node) -> None:
        seen = 0
        for event in node:
            if event.kind != "input":
                continue
            seen += 1
            if seen % max(1, node.params["every"]) == 0:
                age_ms = (time.time_ns() - event.stamp_ns) / 1e6
                print(f"{event.topic} [{event.seq}] from {event.source} age {age_ms:.1f} ms: "
                      f"{json.dumps(_jsonable(event.value), default=str)}", flush=True)


class Recorder(NodeType):
    """Writes every message of `in` to an MCAP file (docs/RECORDING.md), losslessly.

    The same writer as `edge bag record`; a restarted recorder starts `NAME-1.mcap`,
    `NAME-2.mcap`, ... instead of overwriting. The file is complete (readable) once the
    node stops or reaches `max_messages`.
    """

    inputs = {"in": Port(help="anything")}
    parameters = {
        "path": Param(str, help="the .mcap file to write"),
        "max_messages": Param(int, default=0, help="stop recording after this many (0: never)"),
        "compression": Param(str, default="none", choices=("none", "lz4", "zstd"),
                             help="chunk compression (none: fastest, unchunked)"),
        "queue_size": Param(int, default=100, help="messages the input may hold (min)"),
    }

    def run(self, node) -> None:
        from edge.bag import BagWriter
        from messages import StreamMessage

        port = node.config.inputs["in"]
        node.subscribe("in", queue_size=max(port.queue_size, node.params["queue_size"]))
        limit, path = node.params["max_messages"], _unused_path(node.params["path"])
        writer = BagWriter(path, compression=node.params["compression"])
        try:
            for event in node:
                if event.kind != "input" or writer.closed:
                    continue
                message = StreamMessage(event.topic, event.value, event.seq, event.stamp_ns,
                                        event.pub_ns, event.source, event.trail)
                writer.add_message(message, time.time_ns())
                if limit and writer.messages >= limit:
                    writer.close()
        finally:
            writer.close()


def _unused_path(path: str) -> str:
    """`path`, or `stem-N.suffix` for the first N that does not exist yet."""
    stem, dot, suffix = path.rpartition(".") if "." in path.rsplit("/", 1)[-1] else (path, "", "")
    candidate, number = path, 0
    while os.path.exists(candidate):
        number += 1
        candidate = f"{stem}-{number}{dot}{suffix}"
    return candidate


def _jsonable(value):
    """JSON-friendly: small arrays as lists, big ones as a dtype and shape."""
    if hasattr(value, "to_wire") and hasattr(value, "TYPE"):
        return {"type": value.TYPE, **_jsonable(value.to_wire())}
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 8 else f"<ndarray {value.dtype} {list(value.shape)}>"
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def _positive(value: float, name: str) -> float:
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value
