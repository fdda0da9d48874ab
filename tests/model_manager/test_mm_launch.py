"""The model manager under `edge launch`: a node of a graph, found through the control
endpoint, restarted by the supervisor with its loaded models restored."""
from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from edge.launch.control import ControlClient
from nodes.model_manager.client import ModelManagerClient
from server_process import edge_command, service_of

pytestmark = pytest.mark.timeout(90)

WAIT_S = 30.0
ONES = np.ones((1, 3), np.float32)


def wait_for_line(proc: subprocess.Popen, text: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            assert line, f"edge launch ended before printing {text!r}"
            if text in line:
                return
    raise AssertionError(f"edge launch did not print {text!r} in {WAIT_S}s")


def test_launched_manager_serves_and_survives_a_kill(tmp_path, add_matmul_bytes):
    runtime = Path(f"/tmp/mml{os.getpid()}")  # short: ipc paths are limited to 107 bytes
    launch = tmp_path / "models.yaml"
    launch.write_text(f"name: models\nnodes:\n  - name: models\n    type: model_manager\n"
                      f"    parameters: {{repo: {tmp_path / 'repo'}, workers: 1}}\n"
                      f"    restart: on-failure\n")
    env = {**os.environ, "EDGE_RUNTIME_DIR": str(runtime), "PYTHONUNBUFFERED": "1"}
    env.pop("EDGE_CONTROL", None)
    proc = subprocess.Popen([*edge_command(), "launch", str(launch), "--no-color"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_line(proc, "ready")
        with ControlClient(f"ipc://{runtime}/control.sock") as control:
            endpoint = service_of(control, "models")
            with ModelManagerClient(endpoint) as client:
                uid = client.upload_model(add_matmul_bytes)
                client.load_models([uid])
                assert client.forward(uid, {"a": ONES, "b": ONES})["sum"].tolist() == [[2, 2, 2]]
            pid = next(n for n in control.nodes() if n["name"] == "models")["pid"]
            os.kill(pid, signal.SIGKILL)
            endpoint = service_of(control, "models", old_pid=pid)
            with ModelManagerClient(endpoint) as client:  # restarted: the same model is loaded
                assert client.is_model_ready(uid)
                assert client.forward(uid, {"a": ONES, "b": ONES})["sum"].tolist() == [[2, 2, 2]]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT_S) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT_S)
        proc.stdout.close()
        shutil.rmtree(runtime, ignore_errors=True)
