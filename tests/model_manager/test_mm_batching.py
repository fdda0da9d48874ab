"""Dynamic batching, priority and deadlines.

Most tests park the only worker in a result callback (a Gate) so the queue
is filled before the scheduler decides anything: no timing assumptions.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import onnxruntime as ort
import pytest

import onnx_fixtures
from scheduling_probes import WAIT_S, Collector
from nodes.model_manager import ForwardResult
from edge.errors import InvalidArgument, ResourceExhausted

pytestmark = pytest.mark.timeout(60)
WIDTH, DEPTH = 256, 3


def chain_ref(x: np.ndarray) -> np.ndarray:
    return onnx_fixtures.matmul_chain_reference(x, WIDTH, DEPTH)


def load(manager, data: bytes, **config) -> str:
    uid = manager.upload_model(data)
    manager.load_models([uid], config=config)
    return uid


def stats(manager, uid: str) -> dict:
    return manager.get_inference_statistics([uid])[0]


def hold(gate, manager, uid: str, width: int = WIDTH) -> None:
    gate.hold(manager, uid, {"x": np.zeros((1, width), np.float32)})


def test_queued_requests_coalesce_and_each_gets_its_rows(make_manager, gate, chain_bytes):
    manager = make_manager(workers=1)
    uid = load(manager, chain_bytes, max_batch_size=16)
    hold(gate, manager, uid)
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((rows, WIDTH), np.float32) for rows in (1, 3, 2, 1, 4, 1)]
    collector = Collector(len(inputs))
    for i, x in enumerate(inputs):
        manager.submit_forward(uid, {"x": x}, request_id=f"r{i}", on_done=collector.callback(i))
    gate.release.set()
    direct = ort.InferenceSession(chain_bytes, providers=["CPUExecutionProvider"])
    for i, result in collector.wait():
        assert isinstance(result, ForwardResult) and result.request_id == f"r{i}"
        np.testing.assert_allclose(result.outputs["y"], chain_ref(inputs[i]), rtol=1e-4,
                                   atol=1e-5)
        (alone,) = direct.run(None, {"x": inputs[i]})
        np.testing.assert_allclose(result.outputs["y"], alone, rtol=1e-4, atol=1e-5)
    s = stats(manager, uid)
    assert s["execution_count"] == 2 and s["success_count"] == 7
    assert s["inference_count"] == 13 and s["batch_sizes"] == {"1": 1, "12": 1}


def test_sixteen_threads_are_coalesced(make_manager, chain_bytes):
    manager = make_manager(workers=2)
    uid = load(manager, chain_bytes, max_batch_size=16, max_queue_delay_us=20_000)
    barrier = threading.Barrier(16, timeout=WAIT_S)
    errors: list[BaseException] = []

    def caller(seed: int) -> None:
        x = np.random.default_rng(seed).standard_normal((1, WIDTH), np.float32)
        try:
            barrier.wait()
            for _ in range(5):
                y = manager.forward(uid, {"x": x})["y"]
                np.testing.assert_allclose(y, chain_ref(x), rtol=1e-4, atol=1e-5)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    assert not errors and not any(t.is_alive() for t in threads)
    s = stats(manager, uid)
    assert s["success_count"] == s["inference_count"] == 80
    assert s["execution_count"] < 80, "no request was ever coalesced"
    assert max(map(int, s["batch_sizes"])) > 1


def test_max_batch_size_caps_each_run(make_manager, gate, chain_bytes):
    manager = make_manager(workers=1)
    uid = load(manager, chain_bytes, max_batch_size=4)
    hold(gate, manager, uid)
    collector = Collector(10)
    for i in range(10):
        manager.submit_forward(uid, {"x": np.full((1, WIDTH), i, np.float32)},
                               on_done=collector.callback(i))
    gate.release.set()
    assert all(isinstance(v, ForwardResult) for _, v in collector.wait())
    assert stats(manager, uid)["batch_sizes"] == {"1": 1, "2": 1, "4": 2}


def test_preferred_batch_sizes(make_manager, gate, chain_bytes):
    manager = make_manager(workers=1)
    uid = load(manager, chain_bytes, max_batch_size=8, preferred_batch_sizes=[2, 4])
    hold(gate, manager, uid)
    collector = Collector(7)
    for i in range(7):
        manager.submit_forward(uid, {"x": np.zeros((1, WIDTH), np.float32)},
                               on_done=collector.callback(i))
    gate.release.set()
    collector.wait()
    assert stats(manager, uid)["batch_sizes"] == {"1": 2, "2": 1, "4": 1}


def test_only_matching_shapes_share_a_run(make_manager, gate, mixed_bytes):
    manager = make_manager(workers=1)
    uid = load(manager, mixed_bytes, max_batch_size=8)
    gate.hold(manager, uid, {"x": np.zeros((1, 4), np.float32),
                             "ids": np.zeros((1, 1), np.int64)})
    rng = np.random.default_rng(2)
    sent = [(rng.standard_normal((1, 4), np.float32),
             rng.integers(0, 100, (1, seq), dtype=np.int64)) for seq in (3, 5, 3, 5, 3)]
    collector = Collector(len(sent))
    for i, (x, ids) in enumerate(sent):
        manager.submit_forward(uid, {"x": x, "ids": ids}, on_done=collector.callback(i))
    gate.release.set()
    for i, result in collector.wait():
        np.testing.assert_array_equal(result.outputs["next_ids"], sent[i][1] + 1)
        np.testing.assert_allclose(result.outputs["scaled"], sent[i][0] * 2)
    assert stats(manager, uid)["batch_sizes"] == {"1": 1, "2": 1, "3": 1}


def test_a_failing_request_does_not_fail_its_batch_mates(make_manager, gate):
    manager = make_manager(workers=1)
    uid = load(manager, onnx_fixtures.gather_model(), max_batch_size=8)
    gate.hold(manager, uid, {"idx": np.array([0], np.int64)})
    sent = [np.array([1, 2]), np.array([99]), np.array([9])]
    collector = Collector(3)
    for i, idx in enumerate(sent):
        manager.submit_forward(uid, {"idx": idx}, on_done=collector.callback(i))
    gate.release.set()
    results = dict(collector.wait())
    assert results[1].code == "INVALID_ARGUMENT" and "out of data bounds" in str(results[1])
    for i in (0, 2):
        np.testing.assert_array_equal(results[i].outputs["rows"],
                                      onnx_fixtures.gather_table()[sent[i]])


@pytest.mark.parametrize("batching", [{}, {"max_batch_size": 2}])
def test_priority_1_runs_first_and_0_is_the_default_level(make_manager, gate, chain_bytes, batching):
    manager = make_manager(workers=1)
    uid = load(manager, chain_bytes, **batching)
    hold(gate, manager, uid)
    collector = Collector(6)
    for tag, priority in (("low", 9), ("default", 0), ("high", 1), ("low2", 9), ("high2", 1),
                          ("last", 10)):
        manager.submit_forward(uid, {"x": np.zeros((1, WIDTH), np.float32)},
                               priority=priority, on_done=collector.callback(tag))
    for bad in (-1, 11):
        with pytest.raises(InvalidArgument, match="priority must be 0"):
            manager.submit_forward(uid, {"x": np.zeros((1, WIDTH), np.float32)},
                                   priority=bad, on_done=lambda value: None)
    gate.release.set()
    order = [tag for tag, _ in collector.wait()]
    assert order == ["high", "high2", "default", "low", "low2", "last"]


def test_expired_request_is_answered_without_running(make_manager, gate, chain_bytes):
    manager = make_manager(workers=1)
    uid = load(manager, chain_bytes)
    hold(gate, manager, uid)
    collector = Collector(2)
    x = np.zeros((1, WIDTH), np.float32)
    late_ns = time.monotonic_ns() + 50_000_000
    manager.submit_forward(uid, {"x": x}, request_id="late", on_done=collector.callback("late"),
                           deadline_ns=late_ns)
    manager.submit_forward(uid, {"x": x}, on_done=collector.callback("ok"),
                           deadline_ns=time.monotonic_ns() + 60_000_000_000)
    while time.monotonic_ns() <= late_ns:   # the first deadline passes while both wait
        time.sleep(0.005)
    gate.release.set()
    results = dict(collector.wait())
    assert results["late"].code == "DEADLINE_EXCEEDED"
    assert results["late"].details["request_id"] == "late"
    assert isinstance(results["ok"], ForwardResult)
    s = stats(manager, uid)
    assert s["execution_count"] == 2 and s["success_count"] == 2  # the gate and "ok"
    assert s["failures_by_code"] == {"DEADLINE_EXCEEDED": 1}


def test_full_queue_is_resource_exhausted(make_manager, gate, chain_bytes):
    manager = make_manager(workers=1)
    uid = load(manager, chain_bytes, max_queue_size=2)
    hold(gate, manager, uid)
    x = {"x": np.zeros((1, WIDTH), np.float32)}
    collector = Collector(2)
    for i in range(2):
        manager.submit_forward(uid, x, on_done=collector.callback(i))
    with pytest.raises(ResourceExhausted, match="queue is full"):
        manager.submit_forward(uid, x, on_done=lambda value: None)
    gate.release.set()
    assert len(collector.wait()) == 2
