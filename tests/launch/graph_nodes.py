"""Small node types for launch tests, loaded as `graph_nodes:Class` (tests/launch on PYTHONPATH)."""
from __future__ import annotations

import os
import signal
import time

import numpy as np

from edge.nodetype import NodeType, Param, Port

NUMBERS = Port("", dtype="int64", shape=["n"], help="a 1-d int64 counter array")


class Counter(NodeType):
    """Publishes [i] at rate_hz."""

    outputs = {"count": NUMBERS}
    parameters = {"rate_hz": Param(float, default=50.0, runtime=True)}

    def run(self, node) -> None:
        node.timer("tick", 1.0 / node.params["rate_hz"])
        i = 0
        for event in node:
            if event.kind == "timer":
                i += 1
                node.publish("count", np.array([i], dtype=np.int64))
            elif event.kind == "param" and event.name == "rate_hz":
                node.timer("tick", 1.0 / event.value)


class Scale(NodeType):
    """Multiplies its input by `gain` (settable live) and announces param events."""

    inputs = {"in": NUMBERS}
    outputs = {"out": NUMBERS}
    parameters = {"gain": Param(int, default=1, runtime=True), "label": Param(str, default="")}

    def run(self, node) -> None:
        for event in node:
            if event.kind == "input":
                node.publish("out", event.value * node.params["gain"], stamp_ns=event.stamp_ns)
            elif event.kind == "param":
                print(f"param event {event.name}={event.value!r}", flush=True)


class Sink(NodeType):
    """Appends `pid topic seq value` lines to `path`."""

    inputs = {"in": NUMBERS}
    parameters = {"path": Param(str)}

    def run(self, node) -> None:
        with open(node.params["path"], "a") as out:
            for event in node:
                if event.kind == "input":
                    out.write(f"{os.getpid()} {event.topic} {event.seq} {int(event.value[0])}\n")
                    out.flush()


class Crasher(NodeType):
    """Exits with `exit_code`: at once (before_ready), or once ready and `delay_s` later."""

    parameters = {"exit_code": Param(int, default=3), "delay_s": Param(float, default=0.0),
                  "before_ready": Param(bool, default=False)}

    def run(self, node) -> None:
        if node.params["before_ready"]:
            print("crashing before the ready handshake", flush=True)
            raise SystemExit(node.params["exit_code"])
        deadline = time.monotonic() + node.params["delay_s"]
        while (remaining := deadline - time.monotonic()) > 0:
            if (event := node.next_event(timeout_s=remaining)) is not None and event.kind == "stop":
                return
        node.next_event(timeout_s=0)
        print("crashing on purpose", flush=True)
        raise SystemExit(node.params["exit_code"])


class Stubborn(NodeType):
    """Ignores its stop event and SIGTERM: only SIGKILL ends it."""

    def run(self, node) -> None:
        for event in node:
            if event.kind == "stop":
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                print("ignoring stop", flush=True)
                time.sleep(60)


# -- types only for validation tests: contracts that do not match ---------------------------
class FloatSink(NodeType):
    inputs = {"in": Port("", dtype="float32", shape=["n"])}


class MatrixSink(NodeType):
    inputs = {"in": Port("", dtype="int64", shape=["n", 4])}


class BatchSink(NodeType):
    inputs = {"in": Port("", dtype="int64", shape=["batch"])}


class ImageSink(NodeType):
    inputs = {"in": Port("Image", dtype="uint8", shape=["height", "width", 3])}


NotANodeType = object
