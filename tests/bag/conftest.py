"""Fixtures for recording tests: `edge launch` graphs and `edge bag` commands as real processes."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "launch"))

from launch_process import HERE, Launch  # noqa: E402


@pytest.fixture
def rt_dir():
    """A short runtime dir for ipc sockets (pytest's tmp_path can exceed 107 bytes)."""
    path = Path(tempfile.mkdtemp(dir="/tmp", prefix="ebg"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def edge_env(rt_dir):
    env = dict(os.environ)
    env.pop("EDGE_CONTROL", None)
    env.pop("EDGE_NODE_CONFIG", None)
    env["EDGE_RUNTIME_DIR"] = str(rt_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


@pytest.fixture
def launch(edge_env, rt_dir):
    """launch(name, yaml_text) -> Launch with its own control endpoint; killed at teardown."""
    started: list[Launch] = []

    def start(name: str, text: str) -> Launch:
        path = rt_dir / f"{name}.yaml"
        path.write_text(text)
        control = f"ipc://{rt_dir}/{name}-control.sock"
        handle = Launch(path, edge_env, ["--control", control])
        handle.control = control
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.kill()
