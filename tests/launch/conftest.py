"""Fixtures for launch tests: short temp runtime dirs, `edge launch` as a real process,
and cleanup that kills every process a test started, even when it fails."""
from __future__ import annotations

from pathlib import Path

import pytest

from launch_process import Launch, edge_env, launched, rt_dir  # noqa: F401  (fixtures)


@pytest.fixture
def launch(edge_env, launched):
    """launch(text_or_path, *args) -> Launch; every launch is killed at teardown."""
    directory = Path(edge_env["EDGE_RUNTIME_DIR"])

    def start(graph, *args: str, name: str = "graph.yaml") -> Launch:
        path = graph if isinstance(graph, Path) else directory / name
        if not isinstance(graph, Path):
            path.write_text(graph)
        launched.append(Launch(path, edge_env, list(args)))
        return launched[-1]

    return start
