"""Launch file text to plain data, keeping what error messages need: line numbers.

YAML mappings come back as dicts that remember their own line and each key's line;
duplicate keys (which YAML would silently resolve) and syntax errors become Problems.
"""
from __future__ import annotations

import json
import math
from typing import Any, Optional

import yaml

from edge.launch.graph import Problem


class _SyntaxProblem(Exception):
    def __init__(self, problem: Problem):
        self.problem = problem


class LineDict(dict):
    """A mapping that remembers the line of itself and of each key."""

    line: Optional[int] = None
    key_lines: dict = {}


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
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

MAX_VALUES = 100_000  # scalars and containers, aliases expanded: far above any real graph


def _expanded_values(root: yaml.Node) -> float:
    """How many values the document holds with every alias expanded (infinite for a cycle),
    counted over its distinct nodes: nine lines of nested aliases can stand for 9**9 values,
    which a walk over the constructed data would visit one by one."""
    counts: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_counted = stack.pop()
        key = id(node)
        children = _children(node)
        if children_counted:
            on_path.discard(key)
            counts[key] = 1 + sum(counts[id(child)] for child in children)
            if counts[key] > MAX_VALUES:
                return counts[key]
        elif key in on_path:
            return math.inf
        elif key not in counts:
            on_path.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in counts)
    return counts[id(root)]


def _children(node: yaml.Node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return node.value if isinstance(node, yaml.SequenceNode) else []


def _parse_yaml(text: str, file: str, problems: list[Problem]) -> Any:
    loader = _Loader(text)
    loader.duplicates = []
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_values(node) > MAX_VALUES:
            raise _SyntaxProblem(Problem(file, f"the file holds more than {MAX_VALUES} values once "
                                               "its aliases are expanded"))
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        what = " ".join(p for p in parts if p)
        raise _SyntaxProblem(Problem(file, f"YAML syntax error: {what or exc}",
                                     line=mark.line + 1 if mark else None)) from None
    except RecursionError:  # PyYAML composes and constructs recursively
        raise _SyntaxProblem(Problem(file, "nested too deeply to read")) from None
    finally:
        loader.dispose()
    for line, key in loader.duplicates:
        problems.append(Problem(file, f"duplicate key {key!r}", line=line))
    return data


def _parse_json(text: str, file: str, problems: list[Problem]) -> Any:
    """JSON's own syntax errors; then, as JSON is YAML too, the YAML reading for line numbers."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _SyntaxProblem(Problem(file, f"JSON syntax error: {exc.msg} (column {exc.colno})",
                                     line=exc.lineno)) from None
    except RecursionError:
        raise _SyntaxProblem(Problem(file, "nested too deeply to read")) from None
    try:
        located = _parse_yaml(text, file, problems)
    except _SyntaxProblem:   # valid JSON that YAML 1.1 cannot read: no line numbers then
        return data
    return _with_lines(data, located)


def _with_lines(value: Any, located: Any) -> Any:
    """JSON's values (YAML 1.1 reads some numbers differently) with YAML's line numbers."""
    if isinstance(value, dict) and isinstance(located, LineDict):
        result = LineDict((k, _with_lines(v, located.get(k))) for k, v in value.items())
        result.line, result.key_lines = located.line, located.key_lines
        return result
    if isinstance(value, list) and isinstance(located, list) and len(value) == len(located):
        return [_with_lines(v, w) for v, w in zip(value, located)]
    return value


def parse_text(text: str, file: str, as_json: bool) -> tuple[Any, list[Problem]]:
    """(data, problems); data is None after a syntax error, which is then the only problem."""
    problems: list[Problem] = []
    try:
        data = _parse_json(text, file, problems) if as_json else _parse_yaml(text, file, problems)
    except _SyntaxProblem as exc:
        return None, [exc.problem]
    return data, problems
