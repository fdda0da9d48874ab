"""Sender/receiver transports for bus_loop: raw pyzmq and the Node API (ipc, shm).

Each variant is `make(side, paths)` returning an object with the bus_loop interface.
Raw pyzmq is written the way a careful user would: small frames copied, large frames
zero-copy, one poll per wait.
"""
from __future__ import annotations

import os
import struct
import sys

import numpy as np
import zmq

ZERO_COPY_MIN_BYTES = 64 << 10
_STAMP = struct.Struct("<q")


class RawSender:
    def __init__(self, paths: dict):
        context = zmq.Context.instance()
        self.pub = context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind(f"ipc://{paths['data']}")
        self.acks = context.socket(zmq.SUB)
        self.acks.setsockopt(zmq.LINGER, 0)
        self.acks.setsockopt(zmq.SUBSCRIBE, b"")
        self.acks.connect(f"ipc://{paths['ack']}")

    def send(self, stamp_ns: int, payload: np.ndarray) -> None:
        self.pub.send_multipart([b"bench/data", _STAMP.pack(stamp_ns), payload],
                                copy=payload.nbytes < ZERO_COPY_MIN_BYTES)

    def recv_ack(self, timeout_s: float):
        if not self.acks.poll(int(timeout_s * 1000)):
            return None
        return _STAMP.unpack(self.acks.recv())[0]

    def close(self) -> None:
        self.pub.close(0)
        self.acks.close(0)


class RawReceiver:
    def __init__(self, paths: dict):
        context = zmq.Context.instance()
        self.sub = context.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"bench/data")
        self.sub.connect(f"ipc://{paths['data']}")
        self.acks = context.socket(zmq.PUB)
        self.acks.setsockopt(zmq.LINGER, 0)
        self.acks.bind(f"ipc://{paths['ack']}")

    def recv(self, timeout_s: float):
        if not self.sub.poll(int(timeout_s * 1000)):
            return None
        frames = self.sub.recv_multipart(copy=False)
        np.frombuffer(frames[2].buffer, np.uint8)
        return _STAMP.unpack(frames[1].bytes)[0]

    def ack(self, count: int) -> None:
        self.acks.send(_STAMP.pack(count))

    def close(self) -> None:
        self.sub.close(0)
        self.acks.close(0)


class NodeSender:
    """Node API; with transport="shm" the payload is written into a loaned frame, with "auto"
    (the default of launched outputs) large payloads are copied into shared memory."""

    def __init__(self, paths: dict, transport: str = "zmq"):
        from edge import Node

        output = {"topic": "bench/data", "endpoint": f"ipc://{paths['data']}",
                  "transport": transport}
        self.node = Node("bench-send", handle_signals=False, outputs={"data": output})
        self.node.bind_outputs()
        self.node.subscribe("ack", topic="bench/ack", endpoint=f"ipc://{paths['ack']}")
        self.shm, self.frame, self.transport = transport == "shm", None, transport

    def max_in_flight(self, payload: np.ndarray):
        """More shm frames in flight than the pool has slots overwrite unread ones (drops)."""
        if self.transport == "zmq":
            return None
        from edge.config import SHM_MIN_BYTES
        from edge.memory.shm import DEFAULT_SLOTS

        if self.shm or payload.nbytes >= SHM_MIN_BYTES:
            return DEFAULT_SLOTS
        return None

    def prepare(self, payload: np.ndarray) -> None:
        """shm: loan the frame the producer would fill in place of its own buffer. No variant
        pays for producing its payload (raw and node resend one array), so this one does not
        fill the loan either; the receiver gets the same-sized view it would otherwise."""
        if self.shm:
            self.frame = self.node.loan(payload.shape, payload.dtype)

    def send(self, stamp_ns: int, payload: np.ndarray) -> None:
        if self.frame is not None:  # hellos are not prepared: they go as plain values
            payload, self.frame = self.frame, None
        self.node.publish("data", payload, stamp_ns=stamp_ns)

    def recv_ack(self, timeout_s: float):
        event = self.node.next_event(timeout_s=timeout_s)
        return event.value if event is not None and event.kind == "input" else None

    def close(self) -> None:
        self.node.close()


class NodeReceiver:
    def __init__(self, paths: dict, transport: str = "zmq", queue_size: int = 256):
        from edge import Node

        self.node = Node("bench-recv", handle_signals=False, outputs={"ack": {
            "topic": "bench/ack", "endpoint": f"ipc://{paths['ack']}"}})
        self.node.bind_outputs()
        self.node.subscribe("data", topic="bench/data", endpoint=f"ipc://{paths['data']}",
                            queue_size=queue_size, transport=transport)

    def recv(self, timeout_s: float):
        event = self.node.next_event(timeout_s=timeout_s)
        if event is None or event.kind != "input":
            return None
        assert isinstance(event.value, np.ndarray)
        return event.stamp_ns

    def ack(self, count: int) -> None:
        self.node.publish("ack", count)

    def close(self) -> None:
        self.node.close()


VARIANTS = {
    "raw": (RawSender, RawReceiver),
    "node": (NodeSender, NodeReceiver),
    "node-auto": (lambda paths: NodeSender(paths, "auto"), lambda paths: NodeReceiver(paths, "auto")),
    "node-shm": (lambda paths: NodeSender(paths, "shm"), lambda paths: NodeReceiver(paths, "shm")),
}


BASELINE_ENV = "EDGE_BENCH_BASELINE"  # a checkout of an earlier commit: adds variant "node-base"


def _from_baseline(make):
    """The same Node variant, importing `edge` from the baseline checkout (each variant runs
    in fresh spawned processes, so the two versions never meet in one interpreter)."""
    def factory(paths: dict):
        sys.path.insert(0, os.environ[BASELINE_ENV])
        return make(paths)
    return factory


if os.environ.get(BASELINE_ENV):
    VARIANTS["node-base"] = (_from_baseline(NodeSender), _from_baseline(NodeReceiver))
