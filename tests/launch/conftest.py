"""Fixtures for launch tests: short temp runtime dirs, `edge launch` as a real process,
and cleanup that kills every process a test started, even when it fails."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from launch_process import HERE, Launch


@pytest.fixture
def rt_dir():
    """A short runtime dir for ipc sockets (pytest's tmp_path can exceed 107 bytes)."""
    path = Path(tempfile.mkdtemp(dir="/tmp", prefix="edt"))
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
def launch(edge_env):
    """launch(text_or_path, *args) -> Launch; every launch is killed at teardown."""
    started: list[Launch] = []
    directory = Path(edge_env["EDGE_RUNTIME_DIR"])

    def start(graph, *args: str, name: str = "graph.yaml") -> Launch:
        path = graph if isinstance(graph, Path) else directory / name
        if not isinstance(graph, Path):
            path.write_text(graph)
        handle = Launch(path, edge_env, list(args))
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.kill()
