"""Fixtures for recording tests: `edge launch` graphs and `edge bag` commands as real processes."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "launch"))

from launch_process import Launch, edge_env, launched, rt_dir  # noqa: E402,F401  (fixtures)


@pytest.fixture
def launch(edge_env, rt_dir, launched):
    """launch(name, yaml_text) -> Launch with its own control endpoint; killed at teardown."""

    def start(name: str, text: str) -> Launch:
        path = rt_dir / f"{name}.yaml"
        path.write_text(text)
        control = f"ipc://{rt_dir}/{name}-control.sock"
        launched.append(Launch(path, edge_env, ["--control", control]))
        launched[-1].control = control
        return launched[-1]

    return start
