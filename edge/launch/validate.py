"""Check a whole launch graph against its node types before one process starts.

Every problem is collected, so one `edge check` run shows all of them: duplicate node
names, topics with two producers, inputs nobody produces, unknown types and local port
names, bad parameters, and tensor contracts (dtype, rank, fixed and named dims) where
both the producing and the consuming port declare one.
"""
from __future__ import annotations

import contextlib
import difflib
import sys
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from edge.launch import kenning
from edge.launch.loader import read
from edge.launch.graph import Graph, NodeSpec, Problem
from edge.nodetype import NodeType, Port, load_node_type, plain_value_problem


def check_file(path: str | Path) -> tuple[Optional[Graph], dict, list[Problem]]:
    """Load and check a launch file: (graph, node name -> type, problems)."""
    graph, problems = read(path)
    if graph is None:
        return None, {}, problems
    types, more = check(graph)
    return graph, types, sorted(problems + more, key=lambda p: p.line or 0)


def check(graph: Graph) -> tuple[dict, list[Problem]]:
    """(node name -> NodeType class or script Path, problems) for a loaded graph."""
    checker = _Checker(graph)
    checker.unique_names()
    checker.producers()
    checker.inputs_produced()
    with importable_from(graph.base_dir):
        for node in graph.nodes:
            checker.node_type(node)
    checker.contracts()
    return checker.types, checker.problems


@contextlib.contextmanager
def importable_from(directory: Path) -> Iterator[None]:
    """`module:Class` types may live next to the launch file."""
    entry = str(directory.resolve())
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


def resolve_type(type_name: str):
    """load_node_type, also accepting Kenning's dotted `package.module.Class` form."""
    try:
        return load_node_type(type_name)
    except LookupError as first:
        module, dot, attr = type_name.rpartition(".")
        if not dot or ":" in type_name or "/" in type_name or type_name.endswith(".py"):
            raise
        try:
            return load_node_type(f"{module}:{attr}")
        except LookupError:
            raise first from None


class _Checker:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.file = str(graph.path)
        self.types: dict = {}
        self.problems: list[Problem] = []

    def add(self, node: NodeSpec, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, message, node.name, key, node.line_of(key)))

    def unique_names(self) -> None:
        first: dict[str, NodeSpec] = {}
        for node in self.graph.nodes:
            if node.name in first:
                where = f" (first on line {first[node.name].line})" if first[node.name].line else ""
                self.add(node, "name", f"duplicate node name{where}")
            else:
                first[node.name] = node

    def producers(self) -> None:
        external = set(self.graph.external)
        for topic, producers in self.graph.producers().items():
            first_node, first_local = producers[0]
            for node, local in producers[1:]:
                self.add(node, f"outputs.{local}", f"topic {topic!r} is already produced by node "
                         f"{first_node.name!r} (output {first_local!r}); a topic has one producer")
            if topic in external:
                self.add(first_node, f"outputs.{first_local}", f"topic {topic!r} is declared "
                         "external (published by ad-hoc scripts) but this node produces it")

    def inputs_produced(self) -> None:
        produced = set(self.graph.producers()) | set(self.graph.external)
        for node in self.graph.nodes:
            for local, spec in node.inputs.items():
                if spec.topic not in produced:
                    self.add(node, f"inputs.{local}", f"no node produces topic {spec.topic!r} "
                             "(list it under 'external' if an ad-hoc script publishes it)")

    def node_type(self, node: NodeSpec) -> None:
        if not node.type or kenning.is_kenning(node.type):  # the loader named what is unmapped
            return
        try:
            found = resolve_type(node.type)
        except LookupError as exc:
            self.add(node, "type", str(exc))
            return
        except Exception as exc:  # the type's module itself is broken
            self.add(node, "type",
                     f"cannot load node type {node.type!r}: {type(exc).__name__}: {exc}")
            return
        self.types[node.name] = found
        if isinstance(found, type) and issubclass(found, NodeType):
            self.ports(node, found, "inputs", node.inputs)
            self.ports(node, found, "outputs", node.outputs)
            self.parameters(node, found)
        else:  # a script declares no schema, but its values still travel as JSON
            for key, value in node.parameters.items():
                why = plain_value_problem(value)
                if why:
                    self.add(node, f"parameters.{key}", why)

    def ports(self, node: NodeSpec, node_type: type, section: str, wired: dict) -> None:
        declared = getattr(node_type, section)
        for local in wired:
            if local not in declared:
                known = ", ".join(declared) or "none"
                self.add(node, f"{section}.{local}", f"type {node.type!r} has no "
                         f"{section[:-1]} {local!r}{_did_you_mean(local, declared)} "
                         f"({section}: {known})")

    def parameters(self, node: NodeSpec, node_type: type) -> None:
        schema = node_type.parameters
        for key, value in node.parameters.items():
            param = schema.get(key)
            if param is None:
                known = ", ".join(schema) or "none"
                self.add(node, f"parameters.{key}", f"unknown parameter{_did_you_mean(key, schema)}"
                         f" (parameters of {node.type!r}: {known})")
                continue
            why = param.check(value)
            if why:
                self.add(node, f"parameters.{key}", why)
        for key, param in schema.items():
            if param.required and key not in node.parameters:
                hint = f" ({param.help})" if param.help else ""
                self.add(node, f"parameters.{key}", f"missing required parameter{hint}")

    def contracts(self) -> None:
        producers = self.graph.producers()
        for consumer in self.graph.nodes:
            in_type = self.types.get(consumer.name)
            for local, spec in consumer.inputs.items():
                in_port = _port(in_type, "inputs", local)
                for producer, out_local in producers.get(spec.topic, [])[:1]:
                    out_port = _port(self.types.get(producer.name), "outputs", out_local)
                    if in_port is None or out_port is None:
                        continue
                    for why in contract_mismatches(out_port, in_port):
                        self.add(consumer, f"inputs.{local}", f"{why} from node {producer.name!r} "
                                 f"output {out_local!r} on topic {spec.topic!r}")
            self.type_checks(consumer, in_type, producers)

    def type_checks(self, node: NodeSpec, node_type, producers: dict) -> None:
        """The node type's own checks (e.g. a model's input spec against its producer)."""
        if not (isinstance(node_type, type) and issubclass(node_type, NodeType)):
            return
        params, problems = node_type.resolve_parameters(node.parameters)
        if problems:
            return  # already reported by parameters()
        wired = {}
        for local, spec in node.inputs.items():
            for producer, out_local in producers.get(spec.topic, [])[:1]:
                port = _port(self.types.get(producer.name), "outputs", out_local)
                if port is not None:
                    wired[local] = port
        try:
            messages = node_type.check_inputs(params, wired)
        except Exception as exc:  # a check that cannot even run is itself the problem
            messages = [f"{type(exc).__name__}: {exc}"]
        for message in messages:
            self.add(node, "inputs", message)


def _port(node_type, section: str, local: str) -> Optional[Port]:
    if isinstance(node_type, type) and issubclass(node_type, NodeType):
        return getattr(node_type, section).get(local)
    return None


def contract_mismatches(produced: Port, consumed: Port) -> list[str]:
    """Why what `produced` sends cannot be what `consumed` expects; [] when compatible.

    Only what both sides declare is compared, and only certain mismatches count: fixed
    sizes must be equal and named dims must have the same name; a fixed size and a
    named dim may match at run time, so they pass.
    """
    problems = []
    if produced.schema and consumed.schema and produced.schema != consumed.schema:
        problems.append(f"expects {consumed.schema} messages but gets {produced.schema}")
    if produced.dtype and consumed.dtype:
        want, got = _dtype_name(consumed.dtype), _dtype_name(produced.dtype)
        if want != got:
            problems.append(f"expects dtype {want} but gets {got}")
    if produced.shape is not None and consumed.shape is not None:
        want, got = [_dim(d) for d in consumed.shape], [_dim(d) for d in produced.shape]
        why = _shape_mismatch(want, got)
        if why:
            problems.append(f"expects shape {_shape_text(want)} but gets {_shape_text(got)}: {why}")
    return problems


def _shape_mismatch(want: list, got: list) -> Optional[str]:
    if len(want) != len(got):
        return f"rank {len(want)} vs {len(got)}"
    for axis, (w, g) in enumerate(zip(want, got)):
        if w is None or g is None:
            continue
        if isinstance(w, int) and isinstance(g, int) and w != g:
            return f"dim {axis} is {w} vs {g}"
        if isinstance(w, str) and isinstance(g, str) and w != g:
            return f"dim {axis} is named {w!r} vs {g!r}"
    return None


def _dim(dim):
    """An int (fixed), a str (named) or None (anything); accepts messages.Dim too."""
    if hasattr(dim, "dynamic"):
        return dim.name if dim.dynamic else dim.size
    if isinstance(dim, str) and dim in ("?", "*", ""):
        return None
    return dim


def _shape_text(shape: list) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _dtype_name(dtype: str) -> str:
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype)


def _did_you_mean(word: str, known) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
