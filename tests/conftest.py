"""Session-wide: a private CURVE key directory, so tests never read or write the user's keys."""
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings

# CI runs at load on 2 cores: a slow draw is the machine, not the test (explicit
# @settings still override the rest)
settings.register_profile("suite", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

_KEYS_DIR = tempfile.mkdtemp(prefix="edge-keys-")
os.environ["EDGE_KEYS_DIR"] = _KEYS_DIR
os.environ.pop("EDGE_INSECURE", None)
os.environ.pop("EDGE_SERVER_KEY", None)
os.environ.pop("EDGE_PEER_KEYS", None)


@pytest.fixture(scope="session", autouse=True)
def _private_keys_dir():
    yield _KEYS_DIR
    shutil.rmtree(_KEYS_DIR, ignore_errors=True)


@pytest.fixture
def short_dir():
    """A short directory for ipc socket paths (pytest's tmp_path can exceed 107 bytes)."""
    path = tempfile.mkdtemp(prefix="edge-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)
