import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

PEERS = Path(__file__).with_name("peers.py")


@pytest.fixture
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def spawn(short_dir):
    """Start `peers.py ROLE ARGS`; every process is killed when the test ends."""
    procs = []

    def start(*args, **kwargs):
        env = {**os.environ, "EDGE_RUNTIME_DIR": short_dir}
        proc = subprocess.Popen([sys.executable, str(PEERS), *map(str, args)], env=env, **kwargs)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
