"""The launch graph as loaded: nodes, their wiring, and the problems found on the way.

Pure data: `edge.launch.loader` builds it from a file, `edge.launch.validate` checks it against the
node types, `edge.launch.wiring` turns it into endpoints and node configs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

RESTART_MODES = ("never", "on-failure", "always")
DEFAULT_RESTART = "on-failure"
DEFAULT_MAX_RESTARTS = 5


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a launch file, printed as `file:line: node 'x': key: message`."""

    file: str
    message: str
    node: Optional[str] = None
    key: Optional[str] = None
    line: Optional[int] = None

    def __str__(self) -> str:
        parts = [self.file + (f":{self.line}" if self.line else "")]
        if self.node is not None:
            parts.append(f"node {self.node!r}")
        if self.key:
            parts.append(self.key)
        return ": ".join(parts + [self.message])


class LaunchFileError(ValueError):
    """A launch file that cannot be used; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class InputSpec:
    topic: str
    queue_size: int = 1
    limits: dict = field(default_factory=dict)  # queue_bytes, max_message_bytes, max_age_s


@dataclass
class NodeSpec:
    name: str
    type: str
    parameters: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)    # local name -> InputSpec
    outputs: dict = field(default_factory=dict)   # local name -> topic
    transports: dict = field(default_factory=dict)  # local output name -> transport (else auto)
    shm_min_bytes: dict = field(default_factory=dict)  # local output name -> auto's threshold
    trail: Optional[bool] = None                  # per-hop trail for all outputs (None: follow)
    output_trails: dict = field(default_factory=dict)  # local output name -> True/False
    restart: str = DEFAULT_RESTART
    max_restarts: int = DEFAULT_MAX_RESTARTS
    env: dict = field(default_factory=dict)
    host: Optional[str] = None                    # a name from Graph.hosts; None: the launcher's
    line: Optional[int] = None
    lines: dict = field(default_factory=dict, repr=False)  # "inputs.image" -> line (YAML)

    def line_of(self, key: str) -> Optional[int]:
        """The line of `key` ("parameters.fps"), else of its parent key, else of the node."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return self.line

    @property
    def is_script(self) -> bool:
        return self.type.endswith(".py") or "/" in self.type


@dataclass
class Graph:
    name: str
    nodes: list
    external: list = field(default_factory=list)
    path: Path = Path("<graph>")
    description: str = ""
    hosts: dict = field(default_factory=dict)     # name -> edge.launch.hosts.HostSpec

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def node(self, name: str) -> Optional[NodeSpec]:
        return next((n for n in self.nodes if n.name == name), None)

    def producers(self) -> dict:
        """topic -> [(node, local output name)], in file order."""
        found: dict = {}
        for node in self.nodes:
            for local, topic in node.outputs.items():
                found.setdefault(topic, []).append((node, local))
        return found

    def consumers(self) -> dict:
        """topic -> [(node, local input name)], in file order."""
        found: dict = {}
        for node in self.nodes:
            for local, spec in node.inputs.items():
                found.setdefault(spec.topic, []).append((node, local))
        return found
