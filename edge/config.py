"""A node's wiring: which topics it reads and writes, where, and with what parameters.

The launcher passes it as JSON in $EDGE_NODE_CONFIG; an ad-hoc script builds it from
keyword arguments. Both go through NodeConfig, so nodes see one API.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Optional

ENV_VAR = "EDGE_NODE_CONFIG"
CONTROL_ENV_VAR = "EDGE_CONTROL"


@dataclass
class InputConfig:
    topic: str
    endpoint: Optional[str] = None
    queue_size: int = 1
    transport: str = "zmq"  # "shm": frames by shared memory when the publisher is on this host
    overflow: str = "drop_oldest"  # a full queue keeps the newest; "drop_newest" refuses at the HWM


@dataclass
class OutputConfig:
    topic: str
    endpoint: Optional[str] = None
    transport: str = "zmq"  # "shm": loaned frames go to local readers by shared memory


@dataclass
class NodeConfig:
    """Everything a node process needs to join a graph.

    `endpoint` is where the node's publisher binds (outputs without their own endpoint
    share it); `service` is where it answers param/stats requests; `control` is the
    supervisor's control endpoint, used for the ready handshake and topic lookups.
    """

    name: str
    type: str = ""
    parameters: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    endpoint: Optional[str] = None
    service: Optional[str] = None
    control: Optional[str] = None

    def __post_init__(self) -> None:
        self.inputs = {k: v if isinstance(v, InputConfig) else InputConfig(**_as_map(v))
                       for k, v in self.inputs.items()}
        self.outputs = {k: v if isinstance(v, OutputConfig) else OutputConfig(**_as_map(v))
                        for k, v in self.outputs.items()}

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "NodeConfig":
        return cls(**json.loads(text))

    @classmethod
    def from_env(cls, name: Optional[str]) -> Optional["NodeConfig"]:
        """The launcher's config if this process was launched, else None."""
        text = os.environ.get(ENV_VAR)
        if not text:
            return None
        config = cls.from_json(text)
        if name is not None and name != config.name:
            raise ValueError(f"Node({name!r}) but the launcher configured node {config.name!r}")
        return config


def _as_map(value) -> dict:
    """A port may be given as just its topic string."""
    return {"topic": value} if isinstance(value, str) else dict(value)
