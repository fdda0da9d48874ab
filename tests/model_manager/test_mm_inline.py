"""The inline path: an idle manager runs a quick model's forward on the caller's (socket)
thread; a busy manager, a batching model, new input shapes and slow models go to workers."""
from __future__ import annotations

import numpy as np
import pytest
import zmq

from edge.errors import FailedPrecondition
from messages import ReplyMessage, RequestMessage, new_encoder
from nodes.model_manager.execution import ForwardResult
from nodes.model_manager.inline import STREAK

pytestmark = pytest.mark.timeout(60)

ONES = np.ones((1, 3), np.float32)
INPUTS = {"a": ONES, "b": ONES}


class Queued:
    """on_queued for forward_or_submit: records that the request went to a worker."""

    def __init__(self) -> None:
        self.values: list = []
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.values.append


def loaded(manager, model: bytes, **config) -> str:
    uid = manager.upload_model(model)
    manager.load_models([uid], config=config or None)
    return uid


def warm(manager, uid: str, inputs: dict, runs: int = STREAK) -> None:
    for _ in range(runs):
        manager.forward(uid, inputs)


def inline_count(manager, uid: str) -> int:
    return manager.get_inference_statistics([uid])[0]["inline_count"]


def test_a_warm_quick_model_runs_on_the_callers_thread(manager, add_matmul_bytes):
    uid = loaded(manager, add_matmul_bytes)
    queued = Queued()
    assert manager.forward_or_submit(uid, INPUTS, on_queued=queued) is None  # not yet measured
    assert queued.calls == 1
    warm(manager, uid, INPUTS)
    value = manager.forward_or_submit(uid, INPUTS, on_queued=queued, request_id="r1")
    assert isinstance(value, ForwardResult) and value.request_id == "r1"
    np.testing.assert_allclose(value.outputs["sum"], 2 * ONES)
    assert queued.calls == 1  # the inline run did not queue
    stats = manager.get_inference_statistics([uid])[0]
    assert stats["inline_count"] == 1 and stats["success_count"] == STREAK + 2


def test_not_inline_while_a_worker_is_busy(manager, add_matmul_bytes, gate):
    uid = loaded(manager, add_matmul_bytes)
    warm(manager, uid, INPUTS)
    gate.hold(manager, uid, INPUTS)  # a worker is inside a result callback
    queued = Queued()
    assert manager.forward_or_submit(uid, INPUTS, on_queued=queued) is None
    gate.release.set()
    warm(manager, uid, INPUTS, 1)  # answered after the queued one (one worker each, in order)
    assert queued.calls == 1 and inline_count(manager, uid) == 0


def test_not_inline_when_the_caller_says_so_or_for_new_shapes(manager, add_matmul_bytes):
    uid = loaded(manager, add_matmul_bytes)
    warm(manager, uid, INPUTS)
    queued = Queued()
    assert manager.forward_or_submit(uid, INPUTS, on_queued=queued, inline=False) is None
    four = np.ones((4, 3), np.float32)
    assert manager.forward_or_submit(uid, {"a": four, "b": four}, on_queued=queued) is None
    assert queued.calls == 2


def test_a_callable_inline_is_asked_only_when_the_run_could_go_inline(manager,
                                                                      add_matmul_bytes):
    uid = loaded(manager, add_matmul_bytes, inline_max_us=10_000_000)  # no run is too slow
    asked: list[bool] = []

    def busy() -> bool:  # as when another request waits on the socket
        asked.append(False)
        return False

    queued = Queued()
    assert manager.forward_or_submit(uid, INPUTS, on_queued=queued, inline=busy) is None
    assert asked == []  # not yet measured: queued without asking
    warm(manager, uid, INPUTS)
    assert manager.forward_or_submit(uid, INPUTS, on_queued=queued, inline=busy) is None
    assert asked == [False] and queued.calls == 2  # asked, said no: queued


@pytest.mark.parametrize("config", [{"max_batch_size": 4}, {"inline_max_us": 0},
                                    {"inline_max_us": 1}])
def test_batching_and_slow_models_never_run_inline(manager, add_matmul_bytes, config):
    """inline_max_us 1: every real run takes longer, so the streak never builds."""
    uid = loaded(manager, add_matmul_bytes, **config)
    warm(manager, uid, INPUTS, 2 * STREAK)
    queued = Queued()
    assert manager.forward_or_submit(uid, INPUTS, on_queued=queued) is None
    assert queued.calls == 1 and inline_count(manager, uid) == 0


def test_errors_found_before_the_run_are_raised(manager, add_matmul_bytes):
    uid = loaded(manager, add_matmul_bytes)
    manager.unload_models([uid])
    with pytest.raises(FailedPrecondition):
        manager.forward_or_submit(uid, INPUTS, on_queued=Queued())


def test_over_the_wire_inline_replies_and_retries_are_answered_once(client, add_matmul_bytes):
    uid = client.upload_model(add_matmul_bytes)
    client.load_models([uid])
    for _ in range(STREAK + 4):
        np.testing.assert_allclose(client.forward(uid, INPUTS)["sum"], 2 * ONES)
    assert client.get_inference_statistics([uid])[0]["inline_count"] >= 1
    # a retry (same peer, same id) of an inline-answered request gets the first reply again
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    try:
        socket.connect(client.endpoint)
        frames = RequestMessage("retry:1", "forward", {"uid": uid, "inputs": INPUTS},
                                timeout_ms=10_000).to_frames(new_encoder())
        before = client.get_inference_statistics([uid])[0]["success_count"]
        replies = []
        for _ in range(3):
            socket.send_multipart([b"", *frames])
            assert socket.poll(10_000)
            replies.append(ReplyMessage.from_frames(socket.recv_multipart()[1:]))
        assert all(r.ok and r.body["request_id"] == "retry:1" for r in replies)
        for reply in replies[1:]:
            np.testing.assert_array_equal(reply.body["outputs"]["prod"],
                                          replies[0].body["outputs"]["prod"])
        assert client.get_inference_statistics([uid])[0]["success_count"] == before + 1
    finally:
        socket.close(linger=0)


def test_a_slow_model_never_holds_the_socket_thread(client, ppocr_bytes):
    """Its runs exceed inline_max_us, so they stay on workers: `is_server_live` is answered
    while a forward of it is still running."""
    uid = client.upload_model(ppocr_bytes)
    client.load_models([uid])
    image = {"x": np.random.default_rng(0).random((1, 3, 480, 640), dtype=np.float32)}
    for _ in range(STREAK + 1):
        client.forward(uid, image, timeout_s=30)
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    try:
        socket.connect(client.endpoint)
        socket.send_multipart([b"", *RequestMessage(
            "slow:1", "forward", {"uid": uid, "inputs": image},
            timeout_ms=30_000).to_frames(new_encoder())])
        assert client.is_server_live()
        assert not socket.poll(0), "live was answered only after the slow forward"
        assert socket.poll(30_000)
    finally:
        socket.close(linger=0)
    assert client.get_inference_statistics([uid])[0]["inline_count"] == 0
