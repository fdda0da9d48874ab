"""The model manager under `edge launch`: a node of a graph, found through the control
endpoint, restarted by the supervisor with its loaded models restored."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from nodes.model_manager.client import ModelManagerClient
from server_process import launched_manager, service_of

pytestmark = pytest.mark.timeout(90)

WAIT_S = 30.0
ONES = np.ones((1, 3), np.float32)


def test_launched_manager_serves_and_survives_a_kill(tmp_path, add_matmul_bytes):
    with launched_manager(tmp_path, "    restart: on-failure\n") as (proc, control):
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
