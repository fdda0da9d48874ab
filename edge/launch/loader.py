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

import math
import re
from pathlib import Path
from typing import Any, Optional

from edge.config import NODE_NAME, TRANSPORTS
from edge.launch import kenning
from edge.launch.graph import (DEFAULT_MAX_RESTARTS, DEFAULT_RESTART, RESTART_MODES, Graph,
                               InputSpec, LaunchFileError, NodeSpec, Problem)
from edge.launch.hosts import parse_hosts
from edge.launch.syntax import LineDict, parse_text
from messages.codec import short

__all__ = ["Graph", "InputSpec", "LaunchFileError", "NodeSpec", "Problem", "RESTART_MODES",
           "load", "parse", "read"]

GRAPH_KEYS = ("name", "description", "external", "hosts", "nodes")
NODE_KEYS = ("name", "type", "host", "parameters", "inputs", "outputs", "restart", "max_restarts",
             "env", "trail")
INPUT_KEYS = ("topic", "queue_size", "queue_bytes", "max_message_bytes", "max_age_s")
INPUT_LIMITS = {"queue_bytes": "an integer >= 1", "max_message_bytes": "an integer >= 1",
                "max_age_s": "a finite number >= 0"}
MAX_SHM_MIN_BYTES = 1 << 32  # above any frame an input accepts by default
OUTPUT_KEYS = ("topic", "transport", "shm_min_bytes", "trail")
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
class _Builder:
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
                self.problem(f"unknown key {key!r} (known: {', '.join(GRAPH_KEYS)})",
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
        if not isinstance(value, list) or not all(_is_topic(t) for t in value):
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
                self.problem(f"unknown key {key!r} (known: {', '.join(NODE_KEYS)})",
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
            inputs=self.inputs(data, label), outputs=self.outputs(data, label),
            transports=self.transports(data, label), shm_min_bytes=self.shm_min_bytes(data, label),
            trail=self.trail(data, "trail", label), output_trails=self.output_trails(data, label),
            restart=self.restart(data, label), max_restarts=self.max_restarts(data, label),
            env=self.env(data, label), host=self.host(data, label),
            line=getattr(data, "line", None), lines=_key_lines(data))

    def host(self, data: dict, label: str) -> Optional[str]:
        value = data.get("host")
        if value is not None and (not isinstance(value, str) or not value):
            self.problem(f"must be a host name from 'hosts', got {value!r}", label, "host",
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
                self.problem(f"names must be strings, got {name!r}", label, key, value, name)
        return {k: v for k, v in value.items() if isinstance(k, str)}

    def inputs(self, data: dict, label: str) -> dict:
        inputs = {}
        for local, value in self.mapping(data, "inputs", label).items():
            key = f"inputs.{local}"
            if isinstance(value, dict):
                for extra in value.keys() - set(INPUT_KEYS):
                    self.problem(f"unknown key {extra!r} (known: {', '.join(INPUT_KEYS)})",
                                 label, key, value, extra)
                topic, queue_size = value.get("topic"), value.get("queue_size", 1)
            else:
                topic, queue_size = value, 1
            if not _is_topic(topic):
                self.problem(f"topic must be a non-empty string without spaces, got {topic!r}",
                             label, key, data.get("inputs"), local)
                continue
            if type(queue_size) is not int or queue_size < 1:
                self.problem(f"queue_size must be an integer >= 1, got {queue_size!r}",
                             label, key, data.get("inputs"), local)
                queue_size = 1
            limits = self.input_limits(value, label, key) if isinstance(value, dict) else {}
            inputs[local] = InputSpec(topic, queue_size, limits)
        return inputs

    def input_limits(self, value: dict, label: str, key: str) -> dict:
        """queue_bytes, max_message_bytes, max_age_s as given (edge.config.InputConfig)."""
        limits = {}
        for name, expected in INPUT_LIMITS.items():
            if name not in value:
                continue
            given = value[name]
            if name == "max_age_s":
                ok = type(given) in (int, float) and math.isfinite(given) and given >= 0
            else:
                ok = type(given) is int and given >= 1
            if ok:
                limits[name] = given
            else:
                self.problem(f"{name} must be {expected}, got {given!r}", label, key, value, name)
        return limits

    def outputs(self, data: dict, label: str) -> dict:
        outputs = {}
        for local, topic in self.mapping(data, "outputs", label).items():
            if isinstance(topic, dict):  # {topic, transport}
                for extra in topic.keys() - set(OUTPUT_KEYS):
                    self.problem(f"unknown key {extra!r} (known: {', '.join(OUTPUT_KEYS)})",
                                 label, f"outputs.{local}", topic, extra)
                topic = topic.get("topic")
            if not _is_topic(topic):
                self.problem(f"topic must be a non-empty string without spaces, got {topic!r}",
                             label, f"outputs.{local}", data.get("outputs"), local)
                continue
            outputs[local] = topic
        return outputs

    def transports(self, data: dict, label: str) -> dict:
        """Outputs written as {topic, transport: shm}: frames by shared memory on this host."""
        found = {}
        for local, value in self.mapping(data, "outputs", label).items():
            if isinstance(value, dict) and "transport" in value:
                if value["transport"] not in TRANSPORTS:
                    self.problem(f"transport must be one of {', '.join(TRANSPORTS)}, "
                                 f"got {value['transport']!r}", label, f"outputs.{local}", value,
                                 "transport")
                else:
                    found[local] = value["transport"]
        return found

    def trail(self, data: dict, key: str, label: str, at: str = "trail") -> Optional[bool]:
        """A per-hop trail switch: true, false, or absent (follow the inputs)."""
        value = data.get(at)
        if value is not None and type(value) is not bool:
            self.problem(f"trail must be true or false, got {value!r}", label, key, data, at)
            return None
        return value

    def shm_min_bytes(self, data: dict, label: str) -> dict:
        """Outputs written as {topic, shm_min_bytes: N}: with transport auto, arrays of at
        least N bytes go to readers on this host by shared memory."""
        found = {}
        for local, value in self.mapping(data, "outputs", label).items():
            if isinstance(value, dict) and "shm_min_bytes" in value:
                size = value["shm_min_bytes"]
                if type(size) is not int or not 0 <= size <= MAX_SHM_MIN_BYTES:
                    self.problem(f"shm_min_bytes must be an integer from 0 to {MAX_SHM_MIN_BYTES}, "
                                 f"got {size!r}", label, f"outputs.{local}", value, "shm_min_bytes")
                else:
                    found[local] = size
        return found

    def output_trails(self, data: dict, label: str) -> dict:
        """Outputs written as {topic, trail: true|false}: local name -> the switch."""
        found = {}
        for local, value in self.mapping(data, "outputs", label).items():
            if isinstance(value, dict) and "trail" in value:
                switch = self.trail(value, f"outputs.{local}", label)
                if switch is not None:
                    found[local] = switch
        return found

    def restart(self, data: dict, label: str) -> str:
        value = data.get("restart", DEFAULT_RESTART)
        if value not in RESTART_MODES:
            self.problem(f"must be one of {', '.join(RESTART_MODES)}, got {value!r}",
                         label, "restart", data, "restart")
            return DEFAULT_RESTART
        return value

    def max_restarts(self, data: dict, label: str) -> int:
        value = data.get("max_restarts", DEFAULT_MAX_RESTARTS)
        if type(value) is not int or value < 0:
            self.problem(f"must be an integer >= 0, got {value!r}", label, "max_restarts",
                         data, "max_restarts")
            return DEFAULT_MAX_RESTARTS
        return value

    def env(self, data: dict, label: str) -> dict:
        env = {}
        for name, value in self.mapping(data, "env", label).items():
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                self.problem(f"must be a string or number, got {value!r}", label, f"env.{name}",
                             data.get("env"), name)
                continue
            env[name] = str(value)
        return env


def _key_lines(data: dict) -> dict:
    lines = dict(getattr(data, "key_lines", {}))
    for section in ("parameters", "inputs", "outputs", "env"):
        for key, line in getattr(data.get(section), "key_lines", {}).items():
            lines[f"{section}.{key}"] = line
    return lines


def _is_topic(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and not any(c.isspace() for c in value)


def _name_from_type(type_name: str) -> str:
    base = re.split(r"[:./]", type_name[:-3] if type_name.endswith(".py") else type_name)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", base).lower() or "node"


def _unique_derived_names(nodes: list) -> None:
    seen: dict[str, int] = {}
    for node in nodes:
        count = seen[node.name] = seen.get(node.name, 0) + 1
        if count > 1:
            node.name = f"{node.name}-{count}"
