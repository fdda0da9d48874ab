"""How a node type declares its ports and parameters, so a launch file can be checked.

    class Camera(NodeType):
        '''Publishes frames from a device, a file or a synthetic pattern.'''
        outputs = {"image": Port("Image", dtype="uint8", shape=["height", "width", 3])}
        parameters = {"fps": Param(float, default=15.0, runtime=True, help="frames per second")}

        def run(self, node):
            for event in node: ...

Built-in types register under the `edge.node_types` entry-point group; a launch file
may also name `package.module:Class` or a path to a script.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from edge.errors import FailedPrecondition, InvalidArgument, NotFound
from messages.codec import short

REQUIRED = object()
INT64_RANGE = (-(1 << 63), (1 << 64) - 1)  # what msgpack carries


@dataclass(frozen=True)
class Port:
    """A named input or output: its message type and, optionally, a tensor contract.

    `shape` lists dims as ints (fixed) or strings (named, dynamic); None means unknown.
    """

    schema: str = ""
    dtype: Optional[str] = None
    shape: Optional[list] = None
    help: str = ""


@dataclass(frozen=True)
class Param:
    """A typed parameter; `runtime=True` means `edge param set` may change it live.

    Numbers may declare an inclusive `minimum` and `maximum`; floats are always finite.
    """

    type: type | tuple = str
    default: Any = REQUIRED
    runtime: bool = False
    choices: Optional[tuple] = None
    help: str = ""
    minimum: Optional[float] = None
    maximum: Optional[float] = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, value: Any) -> Optional[str]:
        """Why `value` is not acceptable, or None."""
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = " or ".join(t.__name__ for t in types)
            return f"expected {names}, got {type(value).__name__} {short(value)}"
        why = plain_value_problem(value)
        if why:
            return why
        if self.choices is not None and value not in self.choices:
            return f"expected one of {list(self.choices)}, got {short(value)}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                return f"expected at least {self.minimum:g}, got {value!r}"
            if self.maximum is not None and value > self.maximum:
                return f"expected at most {self.maximum:g}, got {value!r}"
        return None

    def coerce(self, value: Any) -> Any:
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value


def plain_value_problem(value: Any, depth: int = 0) -> Optional[str]:
    """Why `value` is not a plain parameter value (what JSON and msgpack both carry), or None.

    Plain: None, bool, 64-bit int, finite float, str, and lists and string-keyed maps of
    those. Not: bytes, dates, NaN or infinity.
    """
    if depth > 32:
        return "nested too deeply"
    if value is None or isinstance(value, (bool, str)):
        return None
    if isinstance(value, int):
        low, high = INT64_RANGE
        return None if low <= value <= high else f"integer {value} is out of the 64-bit range"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"expected a finite number, got {value!r}"
    if isinstance(value, (list, tuple)):
        return next((why for item in value if (why := plain_value_problem(item, depth + 1))), None)
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            return "map keys must be strings"
        return next((why for item in value.values()
                     if (why := plain_value_problem(item, depth + 1))), None)
    return f"{type(value).__name__} is not a parameter value (use a number, text, bool, list or map)"


def check_live_value(node: str, specs: Optional[dict], key: str, value: Any) -> Any:
    """The value to store when `key` of `node` changes at run time, or the EdgeError why not.

    `specs` is the node type's parameters; None for a script, which declares none: any key,
    any plain value.
    """
    why = plain_value_problem(value)
    if why:
        raise InvalidArgument(f"parameter {short(key)}: {why}")
    if specs is None:
        return value
    spec = specs.get(key)
    if spec is None:
        raise NotFound(f"node {node!r} has no parameter {short(key)}")
    if not spec.runtime:
        raise FailedPrecondition(f"parameter {short(key)} of {node!r} cannot be changed at run time")
    why = spec.check(value)
    if why:
        raise InvalidArgument(f"parameter {short(key)}: {why}")
    return spec.coerce(value)


class NodeType:
    """Base of node programs run by the launcher: declare ports and params, implement run."""

    inputs: ClassVar[dict[str, Port]] = {}
    outputs: ClassVar[dict[str, Port]] = {}
    parameters: ClassVar[dict[str, Param]] = {}
    truth_outputs: ClassVar[tuple] = ()   # outputs carrying ground truth, scored by `score`

    def run(self, node) -> None:  # node: edge.Node
        raise NotImplementedError

    @classmethod
    def score(cls, port: str, truth: Any, value: Any) -> Optional[tuple[int, int]]:
        """(correct, total) for `value` judged against `truth` from output `port`.

        `edge measure` pairs a truth message with every output message that carries the
        same capture stamp; None means this value is not something the truth can judge.
        """
        return None

    @classmethod
    def check_inputs(cls, parameters: dict, producers: dict[str, Port]) -> list[str]:
        """Problems a launcher can find before starting anything, beyond port dtype/shape.

        `parameters` are resolved (defaults filled in); `producers` maps each connected
        local input to the producer's output Port. Override to check e.g. a model's input
        spec; one message per problem.
        """
        return []

    @classmethod
    def resolve_parameters(cls, given: dict) -> tuple[dict, list[str]]:
        """Defaults filled in and values coerced; the list holds one message per problem."""
        problems, values = [], {}
        for key in given.keys() - cls.parameters.keys():
            problems.append(f"unknown parameter {short(key)}")
        for key, param in cls.parameters.items():
            if key in given:
                why = param.check(given[key])
                if why:
                    problems.append(f"parameter {short(key)}: {why}")
                else:
                    values[key] = param.coerce(given[key])
            elif param.required:
                problems.append(f"missing required parameter {key!r}")
            else:
                values[key] = param.default
        return values, problems


def load_node_type(type_name: str):
    """A NodeType class for a built-in name or `package.module:Class`; a Path for a script."""
    from importlib import import_module
    from importlib.metadata import entry_points
    from pathlib import Path

    if type_name.endswith(".py") or "/" in type_name:
        path = Path(type_name)
        if not path.is_file():
            raise LookupError(f"node script not found: {type_name}")
        return path
    if ":" in type_name:
        module_name, _, attr = type_name.partition(":")
        try:
            cls = getattr(import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise LookupError(f"cannot load node type {type_name!r}: {exc}") from None
    else:
        found = {ep.name: ep for ep in entry_points(group="edge.node_types")}
        if type_name not in found:
            known = ", ".join(sorted(found)) or "none installed"
            raise LookupError(f"unknown node type {type_name!r} (built-in types: {known})")
        cls = found[type_name].load()
    if not (isinstance(cls, type) and issubclass(cls, NodeType)):
        raise LookupError(f"node type {type_name!r} is not a NodeType subclass")
    return cls
