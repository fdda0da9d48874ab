"""An in-process double for node code: script events in, read what was published out.

    from edge.testing import idle, input_event, run_node
    run = run_node(Camera, params={"fps": 10.0}, events=[idle(1.0)])
    [message.value.frame_id for message in run.outputs("image")]

No sockets and no processes (like dora's MockNode, honcho's scripted FakeProcess and
FakeClock): a FakeNode stands in for `edge.Node` with the surface a node type uses
(params, config, publish, subscribe, timer, serve, next_event, iteration, clock). Its FakeClock
moves only while the script lets time pass (`idle`), so pacing, timers and latencies are
exact. Inputs and published values go through the real codec, so a node sees read-only
arrays as it would off the wire, and a value no subscriber could decode fails here too.
The script ends with Stop unless it delivers one itself. A `call(method, body)` in the
script is a client's request to a method the node serves (`node.serve`), answered between
two events like a Node answers; `run.replies` holds the answers (edge/testing/fake_service.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from edge.config import NodeConfig
from edge.errors import InvalidArgument
from edge.node import Event
from edge.testing.fake_node import MAX_STEPS, FakeNode
from edge.testing.script import (Call, FakeClock, Idle, Published, Replied, call, idle,
                                 input_event, param_event, stop_event, timer_event)

__all__ = ["MAX_STEPS", "Call", "FakeClock", "FakeNode", "Idle", "NodeRun", "Published", "Replied",
           "call", "idle", "input_event", "param_event", "run_node", "stop_event", "timer_event"]


@dataclass
class NodeRun:
    """What one scripted run of a node type left behind."""

    node: FakeNode
    published: list[Published] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    replies: list[Replied] = field(default_factory=list)

    def outputs(self, name: str) -> list[Published]:
        """The messages published on output `name`, in order."""
        return [message for message in self.published if message.output == name]

    def values(self, name: str) -> list:
        return [message.value for message in self.outputs(name)]

    def answers(self, method: str) -> list[Replied]:
        """The replies to the script's calls of `method`, in order."""
        return [reply for reply in self.replies if reply.method == method]


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
    return NodeRun(node, node.published, dict(node.params), node.stats(), node.replies)


def _ports(ports: Iterable[str] | dict, node: str, direction: str) -> dict:
    if isinstance(ports, dict):
        return dict(ports)
    return {local: local if direction == "in" else f"{node}/{local}" for local in ports}
