"""Over the wire under load: concurrent clients and batching, priority, deadlines, async tasks.

Ordering is made observable with a long "blocker" run that occupies the only worker
while the requests under test queue up behind it.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
import zmq

import onnx_fixtures
from edge.errors import DeadlineExceeded, InvalidArgument
from messages import ReplyMessage, RequestMessage, new_encoder
from nodes.model_manager.client import ModelManagerClient

pytestmark = pytest.mark.timeout(180)  # a hang guard: 69 s seen at a load of 10 on 2 cores

WAIT_S = 60.0
BLOCKER_ROWS = 8192  # about 2 s on one core for the 8 x 1024^2 chain


def blocker(client: ModelManagerClient, uid: str) -> str:
    """Queue a long run; returns its task id (poll it to wait for the end)."""
    return client.async_request(uid, {"x": np.ones((BLOCKER_ROWS, 1024), np.float32)})


def test_concurrent_clients_get_their_own_rows_back_from_batches(server, client, chain_bytes):
    uid = client.upload_model(chain_bytes)
    client.load_models([uid], {"max_batch_size": 16, "max_queue_delay_us": 20_000})
    failures: list[BaseException] = []
    rows_sent = [0] * 16

    def caller(index: int) -> None:
        rng = np.random.default_rng(index)
        try:
            with ModelManagerClient(server.endpoint, timeout_s=WAIT_S) as own:
                for _ in range(10):
                    x = rng.standard_normal((1 + index % 2, 256)).astype(np.float32)
                    y = own.forward(uid, {"x": x})["y"]
                    expected = onnx_fixtures.matmul_chain_reference(x, width=256, depth=3)
                    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
                    rows_sent[index] += x.shape[0]
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert not failures, failures[0]
    assert not any(t.is_alive() for t in threads)
    [stats] = client.get_inference_statistics([uid])
    assert stats["success_count"] == 160 and stats["inference_count"] == sum(rows_sent)
    assert max(map(int, stats["batch_sizes"])) > 1  # 16 callers, 20 ms window


def test_priority_1_runs_before_the_default(start_server, big_chain_bytes):
    server = start_server("--workers", "1")
    with ModelManagerClient(server.endpoint, timeout_s=WAIT_S) as client:
        uid = client.upload_model(big_chain_bytes)
        client.load_models([uid])
        task = blocker(client, uid)
        x = {"x": np.ones((1024, 1024), np.float32)}  # a few hundred ms per run
        low = client.async_request(uid, x, priority=0)
        high = client.async_request(uid, x, priority=1)
        # the only worker is busy, yet the socket thread answers: the blocker still runs
        assert client.call("live", retries=0) == {"live": True}
        assert client.get_async_response(task)["state"] == "PENDING", "blocker too short"
        client.wait_async_response(high, timeout_s=WAIT_S, poll_s=0.002)
        assert client.get_async_response(low)["state"] == "PENDING"
        client.wait_async_response(low, timeout_s=WAIT_S)
        client.wait_async_response(task, timeout_s=WAIT_S)


def test_deadline_passed_in_the_queue_is_deadline_exceeded(start_server, big_chain_bytes):
    server = start_server("--workers", "2")
    with ModelManagerClient(server.endpoint, timeout_s=WAIT_S) as client:
        uid = client.upload_model(big_chain_bytes)
        client.load_models([uid])
        task = blocker(client, uid)
        small = {"x": np.ones((1, 1024), np.float32)}
        socket = zmq.Context.instance().socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(server.endpoint)
        try:
            frames = RequestMessage("late-1", "forward", {"uid": uid, "inputs": small},
                                    timeout_ms=200).to_frames(new_encoder())
            socket.send_multipart([b"", *frames])
            assert socket.poll(int(WAIT_S * 1000)), "no reply"
            reply = ReplyMessage.from_frames(socket.recv_multipart()[1:])
        finally:
            socket.close(linger=0)
        assert reply.id == "late-1" and not reply.ok
        assert reply.error["code"] == "DEADLINE_EXCEEDED"
        late = client.async_request(uid, small, timeout_ms=100)
        with pytest.raises(DeadlineExceeded):
            client.wait_async_response(late, timeout_s=WAIT_S)
        client.wait_async_response(task, timeout_s=WAIT_S)
        [stats] = client.get_inference_statistics([uid])
        assert stats["failures_by_code"] == {"DEADLINE_EXCEEDED": 2}
        assert stats["execution_count"] == 1  # neither late request ever ran


def test_async_tasks_report_state_results_and_failures(client):
    uid = client.upload_model(onnx_fixtures.gather_model())
    client.load_models([uid])
    good = client.async_request(uid, {"idx": np.array([1, 3], np.int64)})
    bad = client.async_request(uid, {"idx": np.array([99], np.int64)})
    rows = client.wait_async_response(good)["rows"]
    np.testing.assert_array_equal(rows, onnx_fixtures.gather_table()[[1, 3]])
    with pytest.raises(InvalidArgument, match="onnxruntime"):
        client.wait_async_response(bad)
    reply = client.get_async_response(bad)
    assert reply["state"] == "FAILURE" and reply["error"]["code"] == "INVALID_ARGUMENT"
    assert reply["task_id"] == bad and reply["request_id"]
    with pytest.raises(InvalidArgument, match="dtype"):  # checked before a task exists
        client.async_request(uid, {"idx": np.array([1.0])})
