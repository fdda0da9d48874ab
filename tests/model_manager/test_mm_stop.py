"""A model manager that stops answers every request it accepted: a result, or UNAVAILABLE.
Nothing is left for the client to time out on."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from edge.launch.control import ControlClient
from messages import ReplyMessage, RequestMessage, new_encoder
from nodes.model_manager.client import ModelManagerClient
from server_process import edge_command
from test_mm_launch import service_of, wait_for_line

REQUESTS = 8
ROWS = 4096  # a few hundred ms per run of the 256-wide chain on one worker


@pytest.mark.timeout(90)
def test_sigterm_answers_queued_forwards_unavailable(start_server, chain_bytes):
    server = start_server("--workers", "1")
    codes = forwards_while_stopping(server.endpoint, chain_bytes, server.proc.terminate)
    assert server.proc.wait(timeout=20) == 143
    check_all_answered(codes)


@pytest.mark.timeout(120)
def test_a_launched_manager_stopped_by_its_supervisor_answers_its_queue(tmp_path, chain_bytes):
    runtime = Path(f"/tmp/mms{os.getpid()}")  # short: ipc paths are limited to 107 bytes
    launch = tmp_path / "models.yaml"
    launch.write_text(f"name: models\nnodes:\n  - name: models\n    type: model_manager\n"
                      f"    parameters: {{repo: {tmp_path / 'repo'}, workers: 1}}\n")
    env = {**os.environ, "EDGE_RUNTIME_DIR": str(runtime), "PYTHONUNBUFFERED": "1"}
    env.pop("EDGE_CONTROL", None)
    proc = subprocess.Popen([*edge_command(), "launch", str(launch), "--no-color"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_line(proc, "ready")
        with ControlClient(f"ipc://{runtime}/control.sock") as control:
            endpoint = service_of(control, "models")
            codes = forwards_while_stopping(endpoint, chain_bytes, lambda: control.stop("models"))
        check_all_answered(codes)
    finally:
        proc.kill()
        proc.wait(30)
        proc.stdout.close()
        shutil.rmtree(runtime, ignore_errors=True)


def forwards_while_stopping(endpoint: str, model: bytes, stop) -> dict:
    """Queue REQUESTS forwards, `stop()` once the first is answered; every answer's code."""
    with ModelManagerClient(endpoint, timeout_s=30) as client:
        uid = client.upload_model(model)
        client.load_models([uid])
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    encoder = new_encoder()
    x = np.ones((ROWS, 256), dtype=np.float32)
    try:
        for index in range(REQUESTS):
            request = RequestMessage(f"stop:{index}", "forward", {"uid": uid, "inputs": {"x": x}})
            socket.send_multipart([b"", *request.to_frames(encoder)], copy=False)
        codes = collect(socket, 1, deadline=time.monotonic() + 30)  # the rest are queued now
        stop()
        codes.update(collect(socket, REQUESTS - 1, deadline=time.monotonic() + 30))
    finally:
        socket.close()
    return codes


def check_all_answered(codes: dict) -> None:
    assert len(codes) == REQUESTS, f"only {len(codes)} of {REQUESTS} answered: {codes}"
    assert "UNAVAILABLE" in codes.values(), codes  # main: the queued ones were never answered
    assert set(codes.values()) <= {"OK", "UNAVAILABLE"}, codes


def collect(socket: zmq.Socket, expected: int, deadline: float) -> dict:
    codes: dict = {}
    while len(codes) < expected and (left := deadline - time.monotonic()) > 0:
        if socket.poll(int(left * 1000)):
            reply = ReplyMessage.from_frames(socket.recv_multipart(copy=False)[1:])
            codes[reply.id] = "OK" if reply.ok else reply.error["code"]
    return codes
