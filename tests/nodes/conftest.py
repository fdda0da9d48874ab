"""Fixtures for node tests: real processes, always stopped, logs shown on failure."""
from __future__ import annotations

import shutil

import pytest

from process_graph import Graph


@pytest.fixture
def graph():
    g = Graph()
    try:
        yield g
    finally:
        codes = g.close()
        for name in g.procs:
            print(f"--- {name} (exit {codes.get(name)}) ---\n{g.log(name)[-3000:]}")
        shutil.rmtree(g.dir, ignore_errors=True)
