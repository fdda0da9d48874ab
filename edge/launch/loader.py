"""Launch files: YAML or JSON graphs of nodes wired by named topics.

    name: ocr-demo
    external: [probe/hint]          # topics an ad-hoc script may publish into the graph
    nodes:
      - name: camera
        type: camera                # built-in, "package.module:Class" or a script path
        parameters: {fps: 15}
        outputs: {image: camera/image}
        restart: on-failure         # never | on-failure | always
        max_restarts: 5
        env: {OMP_NUM_THREADS: "1"}

Kenning's flow form, a plain list of `{type, parameters, inputs, outputs}`, loads too.
Loading checks the file's own structure; `edge.launch.validate` checks the graph against the
node types. Both report every problem at once, each naming the file, node and key.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from edge.config import NODE_NAME
from edge.launch import kenning
from edge.launch.graph import (DEFAULT_MAX_RESTARTS, DEFAULT_RESTART, RESTART_MODES, Graph,
                               InputSpec, LaunchFileError, NodeSpec, Problem)
from edge.launch.hosts import parse_hosts
from edge.launch.ports import PortReader, is_topic
from edge.launch.syntax import LineDict, parse_text
from messages.codec import short

__all__ = ["Graph", "InputSpec", "LaunchFileError", "NodeSpec", "Problem", "RESTART_MODES",
           "load", "parse", "read"]

GRAPH_KEYS = ("name", "description", "external", "hosts", "nodes")
NODE_KEYS = ("name", "type", "host", "parameters", "inputs", "outputs", "restart", "max_restarts",
             "env", "trail")
MAX_FILE_BYTES = 16 << 20  # a launch file; larger is no graph anyone wrote by hand


def load(path: str | Path) -> Graph:
    """The graph in `path`, or LaunchFileError naming every structural problem."""
    graph, problems = read(path)
    if problems:
        raise LaunchFileError(problems)
    return graph


def read(path: str | Path) -> tuple[Optional[Graph], list[Problem]]:
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)  # /dev/zero or a huge file: a problem, not a hang
    except OSError as exc:
        return None, [Problem(str(path), f"cannot read launch file: {exc.strerror or exc}")]
    if len(data) > MAX_FILE_BYTES:
        return None, [Problem(str(path), f"launch file is larger than {MAX_FILE_BYTES >> 20} MiB")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(str(path), f"launch file is not UTF-8 text (byte {exc.start} is "
                                         f"{data[exc.start]:#04x})")]
    return parse(text, path)


def parse(text: str, path: Path) -> tuple[Optional[Graph], list[Problem]]:
    """Parse YAML (JSON is YAML too, but gets JSON's own error messages) into a Graph."""
    data, problems = parse_text(text, str(path), as_json=path.suffix == ".json")
    if data is None and problems:
        return None, problems
    return _Builder(path, problems).graph(data), problems


# -- structure --------------------------------------------------------------------------------
class _Builder(PortReader):
    """Turns parsed data into a Graph, collecting a Problem for everything malformed."""

    def __init__(self, path: Path, problems: list[Problem]):
        self.path, self.file, self.problems = path, str(path), problems

    def problem(self, message: str, node: str | None = None, key: str | None = None,
                where: Any = None, at: Any = None) -> None:
        line = None
        if isinstance(where, LineDict):
            line = where.key_lines.get(at, where.line) if at is not None else where.line
        self.problems.append(Problem(self.file, message, node, key, line))

    def graph(self, data: Any) -> Optional[Graph]:
        if isinstance(data, list):  # Kenning's flow form
            data = {"nodes": data}
            derive_names = True
        elif isinstance(data, dict):
            derive_names = False
        else:
            kind = "empty" if data is None else type(data).__name__
            self.problem("a launch file holds a mapping with 'nodes' or a list of nodes, "
                         f"got {kind}")
            return None
        for key in data:
            if key not in GRAPH_KEYS:
                self.problem(f"unknown key {short(key)} (known: {', '.join(GRAPH_KEYS)})",
                             where=data, at=key)
        name = data.get("name", self.path.stem)
        if not isinstance(name, str) or not name:
            self.problem("graph 'name' must be a non-empty string", where=data, at="name")
            name = self.path.stem
        nodes_data = data.get("nodes")
        if not isinstance(nodes_data, list) or not nodes_data:
            self.problem("'nodes' must be a non-empty list of nodes", where=data, at="nodes")
            nodes_data = []
        built = [(item, self.node(item, index, derive_names))
                 for index, item in enumerate(nodes_data)]
        nodes = [node for _, node in built if node is not None]
        if derive_names:
            _unique_derived_names([node for item, node in built
                                   if node is not None and "name" not in item])
        external = self.external(data.get("external", []), data)
        description = data.get("description", "")
        if not isinstance(description, str):
            description = ""
        hosts = parse_hosts(data.get("hosts"), self.problem)
        return Graph(name, nodes, external, self.path, description, hosts)

    def external(self, value: Any, data: dict) -> list:
        if not isinstance(value, list) or not all(is_topic(t) for t in value):
            self.problem("'external' must be a list of topic names", where=data, at="external")
            return []
        return list(value)

    def node(self, data: Any, index: int, derive_name: bool) -> Optional[NodeSpec]:
        if not isinstance(data, dict):
            self.problem(f"nodes[{index}] must be a mapping, got {type(data).__name__}")
            return None
        issues, written = [], data
        if kenning.is_kenning(data.get("type")):
            data, issues = kenning.translate(data)
        name = data.get("name")
        if name is None and derive_name and isinstance(data.get("type"), str):
            name = _name_from_type(data["type"])
        label = name if isinstance(name, str) else f"nodes[{index}]"
        if not isinstance(name, str) or not NODE_NAME.match(name):
            what = "is missing" if name is None else \
                f"must be letters, digits, '_', '.' or '-', got {short(name)}"
            self.problem(f"node name {what}", node=label, key="name", where=data, at="name")
        for key, message in issues:   # at the line of the Kenning key as written
            section, _, inner = key.partition(".")
            holder = written.get(section) if inner else written
            self.problem(message, node=label, key=key, where=holder, at=inner or section)
        for key in data:
            if key not in NODE_KEYS:
                self.problem(f"unknown key {short(key)} (known: {', '.join(NODE_KEYS)})",
                             node=label, where=data, at=key)
        node_type = data.get("type")
        if not isinstance(node_type, str) or not node_type:
            self.problem("'type' is missing "
                         "(a built-in type, package.module:Class or a script path)",
                         node=label, key="type", where=data, at="type")
            node_type = ""
        elif node_type.endswith(".py") or "/" in node_type:
            node_type = str((self.path.parent / node_type).resolve())
        return NodeSpec(
            name=label, type=node_type,
            parameters=self.mapping(data, "parameters", label),
            inputs=self.inputs(data, label), **self.output_sections(data, label),
            trail=self.trail(data, "trail", label),
            restart=self.restart(data, label), max_restarts=self.max_restarts(data, label),
            env=self.env(data, label), host=self.host(data, label),
            line=getattr(data, "line", None), lines=_key_lines(data))

    def host(self, data: dict, label: str) -> Optional[str]:
        value = data.get("host")
        if value is not None and (not isinstance(value, str) or not value):
            self.problem(f"must be a host name from 'hosts', got {short(value)}", label, "host",
                         data, "host")
            return None
        return value

    def mapping(self, data: dict, key: str, label: str) -> dict:
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(f"must be a mapping, got {type(value).__name__}", label, key, data, key)
            return {}
        for name in value:
            if not isinstance(name, str):
                self.problem(f"names must be strings, got {short(name)}", label, key, value, name)
        return {k: v for k, v in value.items() if isinstance(k, str)}

    def restart(self, data: dict, label: str) -> str:
        value = data.get("restart", DEFAULT_RESTART)
        if value not in RESTART_MODES:
            self.problem(f"must be one of {', '.join(RESTART_MODES)}, got {short(value)}",
                         label, "restart", data, "restart")
            return DEFAULT_RESTART
        return value

    def max_restarts(self, data: dict, label: str) -> int:
        value = data.get("max_restarts", DEFAULT_MAX_RESTARTS)
        if type(value) is not int or value < 0:
            self.problem(f"must be an integer >= 0, got {short(value)}", label, "max_restarts",
                         data, "max_restarts")
            return DEFAULT_MAX_RESTARTS
        return value

    def env(self, data: dict, label: str) -> dict:
        env = {}
        for name, value in self.mapping(data, "env", label).items():
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                self.problem(f"must be a string or number, got {short(value)}", label,
                             f"env.{name}", data.get("env"), name)
                continue
            env[name] = str(value)
        return env


def _key_lines(data: dict) -> dict:
    lines = dict(getattr(data, "key_lines", {}))
    for section in ("parameters", "inputs", "outputs", "env"):
        for key, line in getattr(data.get(section), "key_lines", {}).items():
            lines[f"{section}.{key}"] = line
    return lines


def _name_from_type(type_name: str) -> str:
    base = re.split(r"[:./]", type_name[:-3] if type_name.endswith(".py") else type_name)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", base).lower() or "node"


def _unique_derived_names(nodes: list) -> None:
    seen: dict[str, int] = {}
    for node in nodes:
        count = seen[node.name] = seen.get(node.name, 0) + 1
        if count > 1:
            node.name = f"{node.name}-{count}"
