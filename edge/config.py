"""A node's wiring: which topics it reads and writes, where, and with what parameters.

The launcher passes it as JSON in $EDGE_NODE_CONFIG to `python -m edge.run`, which takes
it out of the environment (so nothing the node starts inherits it) and hands it to the
Node, marked `launched`; an ad-hoc script builds it from keyword arguments. Both go
through NodeConfig, so nodes see one API.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from messages.codec import short

ENV_VAR = "EDGE_NODE_CONFIG"
TRAIL_ENV_VAR = "EDGE_TRAIL"  # "1": trails on in nodes that do not say; "0": off
CONTROL_ENV_VAR = "EDGE_CONTROL"
RUNTIME_PLACEHOLDER = "{runtime}"  # in a launcher's endpoints: the node's own runtime dir
TRANSPORTS = ("auto", "zmq", "shm")  # how an output reaches readers on its own host
OVERFLOW = ("drop_oldest", "drop_newest")  # what a full input queue gives up
SHM_MIN_BYTES = 256 << 10  # transport auto: arrays from this size go by shared memory on one host
NODE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # also a file name: no '/', no leading '.'


@dataclass
class InputConfig:
    """`queue_bytes` bounds what waits for this input (socket and queue); `max_message_bytes`
    refuses bigger messages (default: the stream limit, 64 MiB); `max_age_s` skips older
    messages (default 1 s when latest-only, 0 = off)."""

    topic: str
    endpoint: Optional[str] = None
    queue_size: int = 1
    queue_bytes: Optional[int] = None
    max_message_bytes: Optional[int] = None
    max_age_s: Optional[float] = None
    transport: str = "zmq"  # "shm"/"auto": read the shm form when the publisher is on this host
    overflow: str = "drop_oldest"  # a full queue keeps the newest; "drop_newest" refuses at the HWM

    def check(self, where: str) -> None:
        _need(isinstance(self.topic, str), f"{where}.topic must be a string", self.topic)
        _need(_is_opt(self.endpoint, str), f"{where}.endpoint must be a string or null",
              self.endpoint)
        _need(_is_count(self.queue_size), f"{where}.queue_size must be an integer >= 1",
              self.queue_size)
        for key in ("queue_bytes", "max_message_bytes"):
            value = getattr(self, key)
            _need(value is None or _is_count(value), f"{where}.{key} must be an integer >= 1",
                  value)
        _need(self.max_age_s is None or type(self.max_age_s) in (int, float)
              and self.max_age_s >= 0, f"{where}.max_age_s must be a number >= 0", self.max_age_s)
        _need(self.transport in TRANSPORTS, f"{where}.transport must be one of "
              f"{', '.join(TRANSPORTS)}", self.transport)
        _need(self.overflow in OVERFLOW, f"{where}.overflow must be one of {', '.join(OVERFLOW)}",
              self.overflow)


@dataclass
class OutputConfig:
    """`trail`: True adds this node's hop to every message (starting a trail), False never,
    None (default) follows the node's setting."""

    topic: str
    endpoint: Optional[str] = None
    # "auto": arrays of at least shm_min_bytes (and loaned frames) go to readers on this host
    # by shared memory; "shm": every loaned frame does; "zmq": never
    transport: str = "auto"
    shm_min_bytes: int = SHM_MIN_BYTES
    trail: Optional[bool] = None

    def check(self, where: str) -> None:
        _need(isinstance(self.topic, str), f"{where}.topic must be a string", self.topic)
        _need(_is_opt(self.endpoint, str), f"{where}.endpoint must be a string or null",
              self.endpoint)
        _need(self.transport in TRANSPORTS, f"{where}.transport must be one of "
              f"{', '.join(TRANSPORTS)}", self.transport)
        _need(type(self.shm_min_bytes) is int and self.shm_min_bytes >= 0,
              f"{where}.shm_min_bytes must be an integer >= 0", self.shm_min_bytes)
        _need(_is_opt(self.trail, bool), f"{where}.trail must be true, false or null", self.trail)


@dataclass
class NodeConfig:
    """Everything a node process needs to join a graph.

    `endpoint` is where the node's publisher binds (outputs without their own endpoint
    share it); `service` is where it answers param/stats requests; `control` is the
    supervisor's control endpoint, used for the ready handshake and topic lookups.
    `launched` says the launcher started this node: it binds its outputs before its
    first event and tells the supervisor it is ready. `trail` (docs/PROTOCOL.md, Trail):
    True adds the node's hop to everything it publishes, False to nothing, None (default)
    to outputs derived from an input that carries a trail.
    """

    name: str
    type: str = ""
    parameters: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    endpoint: Optional[str] = None
    service: Optional[str] = None
    control: Optional[str] = None
    also_bind: list = field(default_factory=list)  # more endpoints for the publisher (ipc + tcp)
    launched: bool = False
    trail: Optional[bool] = None  # per-hop trail: True on, False off, None follows inputs (below)

    def __post_init__(self) -> None:
        self.inputs = _ports(self.inputs, "inputs", InputConfig)
        self.outputs = _ports(self.outputs, "outputs", OutputConfig)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "NodeConfig":
        """A config as a launcher writes it; ValueError naming what is not (an agent reads
        these from the network)."""
        try:
            document = json.loads(text)
        except RecursionError:
            raise ValueError("node config nests too deeply to read") from None
        _need(isinstance(document, dict), "not a map", document)
        config = cls(**document)
        config.check()
        return config

    def check(self) -> None:
        """Every field of the type a launcher writes."""
        for key in ("name", "type"):
            _need(isinstance(getattr(self, key), str), f"{key} must be a string",
                  getattr(self, key))
        _need(isinstance(self.parameters, dict) and all(isinstance(k, str) for k in
                                                        self.parameters),
              "parameters must be a map with string keys", self.parameters)
        for key in ("endpoint", "service", "control"):
            _need(_is_opt(getattr(self, key), str), f"{key} must be a string or null",
                  getattr(self, key))
        _need(isinstance(self.also_bind, list) and all(isinstance(e, str) for e in
                                                       self.also_bind),
              "also_bind must be a list of strings", self.also_bind)
        _need(type(self.launched) is bool, "launched must be true or false", self.launched)
        _need(_is_opt(self.trail, bool), "trail must be true, false or null", self.trail)
        for ports, section in ((self.inputs, "inputs"), (self.outputs, "outputs")):
            for name, port in ports.items():
                port.check(f"{section}.{name}")

    @classmethod
    def take_from_env(cls) -> Optional["NodeConfig"]:
        """The launcher's config, removed from the environment, or None if there is none."""
        text = os.environ.pop(ENV_VAR, None)
        if not text:
            return None
        config = cls.from_json(text)
        config.localize()
        config.launched = True
        return config

    def localize(self) -> None:
        """Put this machine's runtime dir where a launcher on another machine wrote
        RUNTIME_PLACEHOLDER (it cannot know the path here)."""
        from edge.endpoints import runtime_dir

        def here(endpoint: Optional[str]) -> Optional[str]:
            if endpoint and RUNTIME_PLACEHOLDER in endpoint:
                return endpoint.replace(RUNTIME_PLACEHOLDER, str(runtime_dir()))
            return endpoint
        self.endpoint, self.service = here(self.endpoint), here(self.service)
        self.also_bind = [here(e) for e in self.also_bind]
        for port in (*self.inputs.values(), *self.outputs.values()):
            port.endpoint = here(port.endpoint)


_handed_over: list[NodeConfig] = []  # set by edge.run before it runs a script node


def hand_over(config: NodeConfig) -> None:
    """edge.run: the config for the Node a launched script creates (it cannot be passed in)."""
    _handed_over[:] = [config]


def claim(name: Optional[str]) -> Optional[NodeConfig]:
    """The handed-over config, once, for the script's `Node(name)`; None in any other process."""
    if not _handed_over:
        return None
    config = _handed_over.pop()
    if name is not None and name != config.name:
        raise ValueError(f"Node({name!r}) but the launcher configured node {config.name!r}")
    return config


def trail_from_env() -> Optional[bool]:
    """$EDGE_TRAIL as a node's default trail setting (None when unset or not 0/1)."""
    text = os.environ.get(TRAIL_ENV_VAR, "").strip().lower()
    return {"1": True, "true": True, "on": True, "0": False, "false": False, "off": False}.get(text)


def _ports(given: Any, section: str, kind: type) -> dict:
    """Port configs by local name; a port may be given as just its topic string."""
    _need(isinstance(given, dict), f"{section} must be a map", given)
    return {name: port if isinstance(port, kind) else kind(**_as_map(port, f"{section}.{name}"))
            for name, port in given.items()}


def _as_map(value: Any, where: str) -> dict:
    if isinstance(value, str):
        return {"topic": value}
    _need(isinstance(value, dict) and "topic" in value, f"{where} must be a topic or a map "
          "with one", value)
    return dict(value)


def _need(ok: bool, what: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"node config: {what}, got {short(value)}")


def _is_opt(value: Any, kind: type) -> bool:
    return value is None or type(value) is kind


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 1
