"""Turn forward() arguments into a queued Request, checking them in the caller's thread.

Catching a wrong dtype or shape here gives the caller a message naming the
input, the expected and the received value, instead of an onnxruntime error
from a worker thread that may also have failed other requests in its batch.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from edge.errors import DeadlineExceeded, InvalidArgument
from .batching import Request, describe_rows
from .specs import TensorSpec, describe


MAX_ACCEPTED = 64  # input signatures remembered per model


def make_request(specs: list[TensorSpec], batching: bool, inputs: Any, on_done: Any, *,
                 request_id: Any, priority: Any, deadline_ns: Any,
                 accepted: set | None = None) -> Request:
    """`accepted`: the model's input signatures that passed before (skips re-checking)."""
    if not callable(on_done):
        raise InvalidArgument("on_done must be callable")
    if not isinstance(request_id, str):
        raise InvalidArgument(f"request_id must be a string, got {type(request_id).__name__}")
    if type(priority) is not int or (deadline_ns is not None and type(deadline_ns) is not int):
        _check_integers(priority, deadline_ns)  # plain ints (the usual case) need no more
    checked = check_inputs(specs, inputs, accepted)
    now_ns = time.monotonic_ns()
    if deadline_ns is not None and deadline_ns <= now_ns:
        raise DeadlineExceeded("the request's deadline had already passed when it arrived",
                               {"request_id": request_id})
    rows, key = describe_rows(checked, batching)
    return Request(checked, request_id, priority, deadline_ns, on_done, now_ns, 0, rows, key)


def _check_integers(priority: Any, deadline_ns: Any) -> None:
    for key, value in (("priority", priority), ("deadline_ns", deadline_ns)):
        if isinstance(value, bool) or not isinstance(value, int | None) or (
                key == "priority" and value is None):
            raise InvalidArgument(f"{key} must be an integer, got {value!r}", {"key": key})


def check_inputs(specs: list[TensorSpec], inputs: Any,
                 accepted: set | None = None) -> dict[str, np.ndarray]:
    """The inputs in spec order, native byte order. A signature (names, dtypes, shapes) in
    `accepted` passed every check before; one that passes now is added to it."""
    signature = _signature(inputs) if accepted is not None else None
    if signature is not None and signature in accepted:
        return {spec.name: inputs[spec.name] for spec in specs}
    checked = _check_all(specs, inputs)
    if signature is not None:
        if len(accepted) >= MAX_ACCEPTED:
            accepted.clear()
        accepted.add(signature)
    return checked


def _signature(inputs: Any) -> tuple | None:
    """Native-order arrays in a plain dict: what decides whether they pass; else None."""
    if type(inputs) is not dict:
        return None
    signature = []
    for name, value in inputs.items():
        if type(value) is not np.ndarray or not value.dtype.isnative:
            return None
        signature.append((name, value.dtype, value.shape))
    return tuple(signature)


def _check_all(specs: list[TensorSpec], inputs: Any) -> dict[str, np.ndarray]:
    if not isinstance(inputs, Mapping):
        raise InvalidArgument(f"inputs must be a map of name to array, got "
                              f"{type(inputs).__name__}")
    expected = {spec.name: spec for spec in specs}
    missing = [name for name in expected if name not in inputs]
    if missing:
        spec = expected[missing[0]]
        raise InvalidArgument(f"missing input {spec.name!r} (expected {describe(spec)})",
                              {"input": spec.name, "expected": describe(spec)})
    extra = sorted(str(name) for name in inputs if name not in expected)
    if extra:
        raise InvalidArgument(f"unexpected input {extra[0]!r}; the model's inputs are "
                              f"{sorted(expected)}", {"input": extra[0]})
    named_sizes: dict[str, tuple[int, str]] = {}
    for name, spec in expected.items():
        _check_one(spec, inputs[name], named_sizes)
    return {name: _native(inputs[name]) for name in expected}


@functools.lru_cache(maxsize=64)
def _numpy_dtype(name: str) -> np.dtype:
    return np.dtype(name)


def _native(value: np.ndarray) -> np.ndarray:
    """onnxruntime reads bytes in native order: a big-endian '>f4' would be garbage."""
    return value if value.dtype.isnative else value.astype(value.dtype.newbyteorder("="))


def _check_one(spec: TensorSpec, value: Any, named_sizes: dict[str, tuple[int, str]]) -> None:
    def fail(what: str, expected: str, got: str) -> InvalidArgument:
        return InvalidArgument(f"input {spec.name!r}: {what}: expected {expected}, got {got}",
                               {"input": spec.name, "expected": expected, "got": got})

    if not isinstance(value, np.ndarray):
        raise fail("type", f"numpy array {describe(spec)}", type(value).__name__)
    dtype = value.dtype if value.dtype.isnative else value.dtype.newbyteorder("=")
    if dtype != _numpy_dtype(spec.dtype):
        raise fail("dtype", spec.dtype, dtype.name)
    if spec.shape is None:
        return
    if value.ndim != len(spec.shape):
        raise fail("rank", f"{len(spec.shape)} {describe(spec)}",
                   f"{value.ndim} {list(value.shape)}")
    for axis, (dim, size) in enumerate(zip(spec.shape, value.shape)):
        if not dim.dynamic and dim.size != size:
            raise fail(f"dim {axis}", f"{dim.size} {describe(spec)}",
                       f"{size} {list(value.shape)}")
        if dim.dynamic and dim.name:
            seen = named_sizes.setdefault(dim.name, (size, spec.name))
            if seen[0] != size:
                raise fail(f"dim {axis} ({dim.name!r})",
                           f"{seen[0]} as in input {seen[1]!r}", str(size))
