"""A model manager that stops answers every request it accepted: a result, or UNAVAILABLE.
Nothing is left for the client to time out on."""
from __future__ import annotations

import time

import numpy as np
import pytest
import zmq

from messages import ReplyMessage, RequestMessage, new_encoder
from nodes.model_manager.client import ModelManagerClient

REQUESTS = 8
ROWS = 4096  # a few hundred ms per run of the 256-wide chain on one worker


@pytest.mark.timeout(90)
def test_sigterm_answers_queued_forwards_unavailable(start_server, chain_bytes):
    server = start_server("--workers", "1")
    with ModelManagerClient(server.endpoint, timeout_s=30) as client:
        uid = client.upload_model(chain_bytes)
        client.load_models([uid])
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(server.endpoint)
    encoder = new_encoder()
    x = np.ones((ROWS, 256), dtype=np.float32)
    try:
        for index in range(REQUESTS):
            request = RequestMessage(f"stop:{index}", "forward", {"uid": uid, "inputs": {"x": x}})
            socket.send_multipart([b"", *request.to_frames(encoder)], copy=False)
        codes = collect(socket, 1, deadline=time.monotonic() + 30)  # the rest are queued now
        server.proc.terminate()
        codes.update(collect(socket, REQUESTS - 1, deadline=time.monotonic() + 30))
    finally:
        socket.close()
    assert server.proc.wait(timeout=20) == 143
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
