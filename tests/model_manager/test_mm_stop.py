"""A model manager that stops answers every request it accepted: a result, or UNAVAILABLE.
Nothing is left for the client to time out on."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from messages import ReplyMessage, RequestMessage, new_encoder
from nodes.model_manager.client import ModelManagerClient
from server_process import launched_manager, service_of

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
    with launched_manager(tmp_path) as (_, control):
        endpoint = service_of(control, "models")
        codes = forwards_while_stopping(endpoint, chain_bytes, lambda: control.stop("models"))
    check_all_answered(codes)


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


EXIT_SCRIPT = """
import sys, tempfile
import numpy as np
sys.path[:0] = sys.argv[1:]
import onnx_fixtures
from nodes.model_manager.manager import ModelManager
manager = ModelManager(tempfile.mkdtemp())
uid = manager.upload_model(onnx_fixtures.matmul_chain_model(width=256, depth=3))
manager.load_models([uid])   # no batching: 256 queued runs of a few ms each
x = np.ones((256, 256), np.float32)
for _ in range(256):
    manager.submit_forward(uid, {"x": x}, on_done=lambda value: None)
print("leaving without close", flush=True)
"""


@pytest.mark.timeout(60)
def test_a_program_that_never_closes_its_manager_exits_cleanly():
    """Workers are daemon threads. One that comes back from onnxruntime once the interpreter
    is finalizing is ended by CPython while pybind11 takes the GIL back, which aborts the
    process (std::terminate, exit code 134). A queue of runs makes that near certain."""
    for _ in range(8):  # without the fix, 1 exit in 4-5 aborted on a quiet machine
        _exits_cleanly(EXIT_SCRIPT, timeout_s=50)


SERVICE_EXIT_SCRIPT = """
import sys, tempfile, threading
import numpy as np
sys.path[:0] = sys.argv[2:]
import onnx_fixtures
from edge import Client, Service
from nodes.model_manager.manager import ModelManager
from nodes.model_manager.service import ModelService
manager = ModelManager(tempfile.mkdtemp())
uid = manager.upload_model(onnx_fixtures.matmul_chain_model(width=512, depth=4))
manager.load_models([uid], config={"inline_max_us": 10_000_000})  # runs of ~10-50 ms, inline
service = Service(sys.argv[1]).start()
ModelService(manager).attach(service.add)
x = np.ones((1024, 512), np.float32)
answered = threading.Semaphore(0)

def ask():
    client = Client(sys.argv[1], timeout_s=5, retries=0)
    while True:
        client.call("forward", {"uid": uid, "inputs": {"x": x}})
        answered.release()

threading.Thread(target=ask, daemon=True).start()
for _ in range(12):   # inline from the 9th on: the service's own thread is in onnxruntime
    answered.acquire(timeout=5)
print("leaving without close", flush=True)
"""


@pytest.mark.timeout(90)
def test_a_program_that_never_closes_a_started_service_exits_cleanly(tmp_path):
    """The same for a Service on its own (daemon) thread, where a model manager's quick
    requests run inline."""
    for attempt in range(4):  # without the fix, most exits aborted
        _exits_cleanly(SERVICE_EXIT_SCRIPT, f"ipc://{tmp_path}/exit{attempt}.sock", timeout_s=60)


def _exits_cleanly(script: str, *args: str, timeout_s: float) -> None:
    """Run `script` with `args` and then the repository and this directory as its path."""
    here = Path(__file__).resolve().parent
    done = subprocess.run([sys.executable, "-c", script, *args, str(here.parents[1]), str(here)],
                          capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "leaving without close" in done.stdout and "terminate" not in done.stderr
