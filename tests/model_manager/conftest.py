"""Fixtures for the model manager tests: managers over temp repos, models, and gates.

A Gate holds the only worker inside a result callback, which lets a test fill
a queue deterministically before any scheduling decision is made.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import onnx_fixtures
from nodes.model_manager import ManagerConfig, ModelManager

WAIT_S = 20.0


class Gate:
    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.value: Any = None

    def on_done(self, value: Any) -> None:
        self.value = value
        self.entered.set()
        self.release.wait(WAIT_S)

    def hold(self, manager: ModelManager, uid: str, inputs: dict) -> None:
        manager.submit_forward(uid, inputs, on_done=self.on_done, request_id="gate")
        assert self.entered.wait(WAIT_S), "the gate request never completed"


class Collector:
    """Records outcomes in the order callbacks ran."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.outcomes: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._done = threading.Event()

    def callback(self, tag: str) -> Callable[[Any], None]:
        def on_done(value: Any) -> None:
            with self._lock:
                self.outcomes.append((tag, value))
                if len(self.outcomes) >= self.expected:
                    self._done.set()
        return on_done

    def wait(self) -> list[tuple[str, Any]]:
        assert self._done.wait(WAIT_S), f"only {len(self.outcomes)} of {self.expected} answered"
        return self.outcomes


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    return tmp_path / "repo"


@pytest.fixture
def make_manager(repo_dir: Path) -> Iterator[Callable[..., ModelManager]]:
    made: list[ModelManager] = []

    def make(root: Path | None = None, **config: Any) -> ModelManager:
        manager = ModelManager(root or repo_dir, ManagerConfig(**config))
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.close(timeout_s=5.0)


@pytest.fixture
def manager(make_manager: Callable[..., ModelManager]) -> ModelManager:
    return make_manager()


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.release.set()


@pytest.fixture(scope="session")
def add_matmul_bytes() -> bytes:
    return onnx_fixtures.add_matmul_model()


@pytest.fixture(scope="session")
def mixed_bytes() -> bytes:
    return onnx_fixtures.mixed_dtype_model()


@pytest.fixture(scope="session")
def fixed_bytes() -> bytes:
    return onnx_fixtures.fixed_shape_model()


@pytest.fixture(scope="session")
def chain_bytes() -> bytes:
    return onnx_fixtures.matmul_chain_model(width=256, depth=3)


@pytest.fixture(scope="session")
def ppocr_bytes() -> bytes:
    return onnx_fixtures.ppocr_det_path().read_bytes()
