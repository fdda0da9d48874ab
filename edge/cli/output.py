"""How the CLI shows decoded values: JSON, with arrays summarised."""
from __future__ import annotations

import json
import sys
import warnings
from typing import Any, NoReturn

import click


def summarise(value: Any, array_stats: bool = False) -> Any:
    """JSON-friendly: arrays of more than 8 items become their dtype and shape (and with
    `array_stats`, min/max/mean)."""
    import numpy as np  # loaded on use: `edge launch` should not wait for it here

    from messages import Schema
    if isinstance(value, Schema):
        return {"type": value.TYPE, **summarise(value.to_wire(), array_stats)}
    if isinstance(value, np.ndarray):
        if value.size <= 8:
            return value.tolist()
        return describe_array(value) if array_stats else f"<ndarray {value.dtype} {list(value.shape)}>"
    if isinstance(value, dict):
        return {str(k): summarise(v, array_stats) for k, v in value.items()}
    if isinstance(value, list):
        return [summarise(v, array_stats) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def describe_array(array) -> str:
    """"<ndarray uint8 [480, 640, 3] min 0 max 255 mean 127.4>" (nan-aware for floats)."""
    import numpy as np

    text = f"<ndarray {array.dtype} {list(array.shape)}"
    if array.dtype.kind in "biuf" and array.size:
        values = array.astype(np.float64) if array.dtype.kind == "b" else array
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN arrays: nan is the answer
            low, high, mean = np.nanmin(values), np.nanmax(values), np.nanmean(values)
        text += f" min {low:.6g} max {high:.6g} mean {mean:.6g}"
    return text + ">"


def print_value(value: Any) -> None:
    click.echo(json.dumps(summarise(value), indent=2, default=str))


def fail(message: str) -> NoReturn:
    """An expected failure that is no EdgeError: one line on stderr, exit code 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)
