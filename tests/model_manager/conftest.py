"""Fixtures for the model manager tests: managers over temp repos, models, and gates."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import onnx_fixtures
from nodes.model_manager import ManagerConfig, ModelManager
from nodes.model_manager.client import ModelManagerClient
from scheduling_probes import Gate
from server_process import ServerProcess


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


@pytest.fixture(scope="module")
def loaded_manager(tmp_path_factory) -> Iterator[tuple[ModelManager, str]]:
    """(a one-worker manager over its own repo, the uid of add_matmul, uploaded and loaded),
    shared by a module's tests."""
    manager = ModelManager(tmp_path_factory.mktemp("loaded") / "repo", ManagerConfig(workers=1))
    uid = manager.upload_model(onnx_fixtures.add_matmul_model())
    manager.load_models([uid])
    yield manager, uid
    manager.close(timeout_s=5.0)


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


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `edge model serve` processes; every one is stopped (or killed) afterwards."""
    started: list[ServerProcess] = []

    def start(*args: str, repo: Path | None = None, endpoint: str | None = None) -> ServerProcess:
        endpoint = endpoint or f"ipc://{tmp_path}/mm{len(started)}.sock"
        server = ServerProcess(repo or tmp_path / "repo", endpoint,
                               tmp_path / f"server{len(started)}.log", *args)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_server()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[ModelManagerClient]:
    with ModelManagerClient(server.endpoint, timeout_s=10.0) as c:
        yield c


@pytest.fixture(scope="session")
def big_chain_bytes() -> bytes:
    """A ~33 MB model: MatMul chain 8 x 1024^2 float32, built with onnx.helper."""
    return onnx_fixtures.matmul_chain_model(width=1024, depth=8)
