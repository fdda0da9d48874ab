"""Session-wide: a private CURVE key directory, so tests never read or write the user's keys."""
import os
import shutil
import tempfile

import pytest

_KEYS_DIR = tempfile.mkdtemp(prefix="edge-keys-")
os.environ["EDGE_KEYS_DIR"] = _KEYS_DIR
os.environ.pop("EDGE_INSECURE", None)
os.environ.pop("EDGE_SERVER_KEY", None)
os.environ.pop("EDGE_PEER_KEYS", None)


@pytest.fixture(scope="session", autouse=True)
def _private_keys_dir():
    yield _KEYS_DIR
    shutil.rmtree(_KEYS_DIR, ignore_errors=True)
