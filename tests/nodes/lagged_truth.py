"""A stand-in for a slow recognizer: re-publishes the camera's truth `lag` frames late.

The visualizer only sees (frame_id, stamp_ns) on its results, so a fixed lag exercises
exactly what the OCR pipeline's latency does, without the models' CPU cost.
"""
from __future__ import annotations

import collections

from edge.nodetype import NodeType, Param, Port


class LaggedTruth(NodeType):
    inputs = {"truth": Port("Text", help="the camera's truth, one per frame")}
    outputs = {"text": Port("Text", help="the same messages, `lag` messages later")}
    parameters = {"lag": Param(int, default=4, help="messages held back")}

    def run(self, node) -> None:
        held: collections.deque = collections.deque()
        for event in node:
            if event.kind != "input":
                continue
            held.append((event.value, event.stamp_ns))
            if len(held) > node.params["lag"]:
                value, stamp_ns = held.popleft()
                node.publish("text", value, stamp_ns=stamp_ns)
