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
Loading checks the file's own structure; `edge.validate` checks the graph against the
node types. Both report every problem at once, each naming the file, node and key.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

RESTART_MODES = ("never", "on-failure", "always")
DEFAULT_RESTART = "on-failure"
DEFAULT_MAX_RESTARTS = 5
GRAPH_KEYS = ("name", "description", "external", "nodes")
NODE_KEYS = ("name", "type", "parameters", "inputs", "outputs", "restart", "max_restarts", "env")
INPUT_KEYS = ("topic", "queue_size")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


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


@dataclass
class NodeSpec:
    name: str
    type: str
    parameters: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)    # local name -> InputSpec
    outputs: dict = field(default_factory=dict)   # local name -> topic
    restart: str = DEFAULT_RESTART
    max_restarts: int = DEFAULT_MAX_RESTARTS
    env: dict = field(default_factory=dict)
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


def load(path: str | Path) -> Graph:
    """The graph in `path`, or LaunchFileError naming every structural problem."""
    graph, problems = read(path)
    if problems:
        raise LaunchFileError(problems)
    return graph


def read(path: str | Path) -> tuple[Optional[Graph], list[Problem]]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        return None, [Problem(str(path), f"cannot read launch file: {exc.strerror or exc}")]
    return parse(text, path)


def parse(text: str, path: Path) -> tuple[Optional[Graph], list[Problem]]:
    """Parse YAML (JSON is YAML too, but gets JSON's own error messages) into a Graph."""
    file = str(path)
    problems: list[Problem] = []
    try:
        data = _parse_json(text, file, problems) if path.suffix == ".json" else \
            _parse_yaml(text, file, problems)
    except _SyntaxProblem as exc:
        return None, [exc.problem]
    graph = _Builder(path, problems).graph(data)
    return graph, problems


# -- syntax -----------------------------------------------------------------------------------
class _SyntaxProblem(Exception):
    def __init__(self, problem: Problem):
        self.problem = problem


class _LineDict(dict):
    """A mapping that remembers the line of itself and of each key (YAML only)."""

    line: Optional[int] = None
    key_lines: dict = {}


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    result = _LineDict()
    result.line, result.key_lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark) from None
        line = key_node.start_mark.line + 1
        if key in result:
            loader.duplicates.append((line, key))
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_yaml(text: str, file: str, problems: list[Problem]) -> Any:
    loader = _Loader(text)
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = " ".join(filter(None, [getattr(exc, "context", None), getattr(exc, "problem", None)]))
        raise _SyntaxProblem(Problem(file, f"YAML syntax error: {what or exc}",
                                     line=mark.line + 1 if mark else None)) from None
    finally:
        loader.dispose()
    for line, key in loader.duplicates:
        problems.append(Problem(file, f"duplicate key {key!r}", line=line))
    return data


def _parse_json(text: str, file: str, problems: list[Problem]) -> Any:
    def no_duplicates(pairs: list) -> dict:
        result = {}
        for key, value in pairs:
            if key in result:
                problems.append(Problem(file, f"duplicate key {key!r}"))
            result[key] = value
        return result
    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise _SyntaxProblem(Problem(file, f"JSON syntax error: {exc.msg} (column {exc.colno})",
                                     line=exc.lineno)) from None


# -- structure --------------------------------------------------------------------------------
class _Builder:
    """Turns parsed data into a Graph, collecting a Problem for everything malformed."""

    def __init__(self, path: Path, problems: list[Problem]):
        self.path, self.file, self.problems = path, str(path), problems

    def problem(self, message: str, node: str | None = None, key: str | None = None,
                where: Any = None, at: Any = None) -> None:
        line = None
        if isinstance(where, _LineDict):
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
            self.problem(f"a launch file holds a mapping with 'nodes' or a list of nodes, got {kind}")
            return None
        for key in data:
            if key not in GRAPH_KEYS:
                self.problem(f"unknown key {key!r} (known: {', '.join(GRAPH_KEYS)})", where=data, at=key)
        name = data.get("name", self.path.stem)
        if not isinstance(name, str) or not name:
            self.problem("graph 'name' must be a non-empty string", where=data, at="name")
            name = self.path.stem
        nodes_data = data.get("nodes")
        if not isinstance(nodes_data, list) or not nodes_data:
            self.problem("'nodes' must be a non-empty list of nodes", where=data, at="nodes")
            nodes_data = []
        built = [(item, self.node(item, index, derive_names)) for index, item in enumerate(nodes_data)]
        nodes = [node for _, node in built if node is not None]
        if derive_names:
            _unique_derived_names([node for item, node in built
                                   if node is not None and "name" not in item])
        external = self.external(data.get("external", []), data)
        description = data.get("description", "")
        return Graph(name, nodes, external, self.path, description if isinstance(description, str) else "")

    def external(self, value: Any, data: dict) -> list:
        if not isinstance(value, list) or not all(_is_topic(t) for t in value):
            self.problem("'external' must be a list of topic names", where=data, at="external")
            return []
        return list(value)

    def node(self, data: Any, index: int, derive_name: bool) -> Optional[NodeSpec]:
        if not isinstance(data, dict):
            self.problem(f"nodes[{index}] must be a mapping, got {type(data).__name__}")
            return None
        name = data.get("name")
        if name is None and derive_name and isinstance(data.get("type"), str):
            name = _name_from_type(data["type"])
        label = name if isinstance(name, str) else f"nodes[{index}]"
        if not isinstance(name, str) or not _NAME_RE.match(name):
            what = "is missing" if name is None else f"must be letters, digits, '_', '.' or '-', got {name!r}"
            self.problem(f"node name {what}", node=label, key="name", where=data, at="name")
        for key in data:
            if key not in NODE_KEYS:
                self.problem(f"unknown key {key!r} (known: {', '.join(NODE_KEYS)})",
                             node=label, where=data, at=key)
        node_type = data.get("type")
        if not isinstance(node_type, str) or not node_type:
            self.problem("'type' is missing (a built-in type, package.module:Class or a script path)",
                         node=label, key="type", where=data, at="type")
            node_type = ""
        elif node_type.endswith(".py") or "/" in node_type:
            node_type = str((self.path.parent / node_type).resolve())
        return NodeSpec(
            name=label, type=node_type,
            parameters=self.mapping(data, "parameters", label),
            inputs=self.inputs(data, label), outputs=self.outputs(data, label),
            restart=self.restart(data, label), max_restarts=self.max_restarts(data, label),
            env=self.env(data, label), line=getattr(data, "line", None), lines=_key_lines(data))

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
            inputs[local] = InputSpec(topic, queue_size)
        return inputs

    def outputs(self, data: dict, label: str) -> dict:
        outputs = {}
        for local, topic in self.mapping(data, "outputs", label).items():
            if not _is_topic(topic):
                self.problem(f"topic must be a non-empty string without spaces, got {topic!r}",
                             label, f"outputs.{local}", data.get("outputs"), local)
                continue
            outputs[local] = topic
        return outputs

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
