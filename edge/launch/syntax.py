"""Launch file text to plain data, keeping what error messages need: line numbers.

YAML mappings come back as dicts that remember their own line and each key's line;
duplicate keys (which YAML would silently resolve) and syntax errors become Problems.
"""
from __future__ import annotations

import json
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


def _parse_yaml(text: str, file: str, problems: list[Problem]) -> Any:
    loader = _Loader(text)
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        what = " ".join(p for p in parts if p)
        raise _SyntaxProblem(Problem(file, f"YAML syntax error: {what or exc}",
                                     line=mark.line + 1 if mark else None)) from None
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
