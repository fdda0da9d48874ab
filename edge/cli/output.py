"""How the CLI shows decoded values: JSON, with arrays summarised."""
from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click
import numpy as np

from messages import Schema


def summarise(value: Any) -> Any:
    if isinstance(value, Schema):
        return {"type": value.TYPE, **summarise(value.to_wire())}
    if isinstance(value, np.ndarray):
        if value.size <= 8:
            return value.tolist()
        return f"<ndarray {value.dtype} {list(value.shape)}>"
    if isinstance(value, dict):
        return {str(k): summarise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [summarise(v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def print_value(value: Any) -> None:
    click.echo(json.dumps(summarise(value), indent=2, default=str))


def fail(message: str) -> NoReturn:
    """An expected failure that is no EdgeError: one line on stderr, exit code 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)
