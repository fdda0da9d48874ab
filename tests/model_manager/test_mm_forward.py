"""forward/submit_forward: results against numpy and onnxruntime, input checks, threads."""
from __future__ import annotations

import threading
import time

import numpy as np
import onnxruntime as ort
import pytest

import onnx_fixtures
from scheduling_probes import WAIT_S, Collector
from nodes.model_manager import ForwardResult
from edge.errors import (DeadlineExceeded, FailedPrecondition, InvalidArgument, NotFound,
                         Unavailable)

pytestmark = pytest.mark.timeout(60)
rng = np.random.default_rng(0)


def loaded(manager, data: bytes, **config) -> str:
    uid = manager.upload_model(data)
    manager.load_models([uid], config=config or None)
    return uid


def test_add_matmul_matches_numpy(manager, add_matmul_bytes):
    uid = loaded(manager, add_matmul_bytes)
    a, b = rng.standard_normal((5, 3), np.float32), rng.standard_normal((5, 3), np.float32)
    out = manager.forward(uid, {"a": a, "b": b})
    np.testing.assert_allclose(out["sum"], a + b, rtol=1e-6)
    np.testing.assert_allclose(out["prod"], a @ onnx_fixtures.add_matmul_weight(), rtol=1e-5)


def test_mixed_dtypes_match_numpy(manager, mixed_bytes):
    uid = loaded(manager, mixed_bytes)
    x = rng.standard_normal((2, 4), np.float32)
    ids = rng.integers(-1000, 1000, (2, 7), dtype=np.int64)
    out = manager.forward(uid, {"x": x, "ids": ids})
    assert out["next_ids"].dtype == np.int64
    np.testing.assert_array_equal(out["next_ids"], ids + 1)
    np.testing.assert_allclose(out["scaled"], x * 2)


def test_ppocr_detector_matches_direct_onnxruntime(manager, ppocr_bytes):
    uid = loaded(manager, ppocr_bytes)
    image = rng.random((1, 3, 96, 128), np.float32)
    out = manager.forward(uid, {"x": image})
    direct = ort.InferenceSession(ppocr_bytes, providers=["CPUExecutionProvider"])
    (expected,) = direct.run(None, {"x": image})
    assert out["sigmoid_0.tmp_0"].shape == (1, 1, 96, 128)
    np.testing.assert_allclose(out["sigmoid_0.tmp_0"], expected, rtol=1e-4, atol=1e-5)


def test_read_only_and_non_contiguous_inputs(manager, add_matmul_bytes):
    uid = loaded(manager, add_matmul_bytes)
    a = rng.standard_normal((6, 3), np.float32)[::2]
    b = np.frombuffer(rng.standard_normal(9).astype(np.float32).tobytes(), np.float32)
    b = b.reshape(3, 3)
    assert not a.flags.c_contiguous and not b.flags.writeable
    np.testing.assert_allclose(manager.forward(uid, {"a": a, "b": b})["sum"], a + b)


def test_big_endian_inputs_are_read_as_numbers_not_bytes(manager, mixed_bytes):
    uid = loaded(manager, mixed_bytes)
    x = np.arange(8, dtype=">f4").reshape(2, 4)
    ids = np.arange(6, dtype=">i8").reshape(2, 3)
    outputs = manager.forward(uid, {"x": x, "ids": ids})
    np.testing.assert_array_equal(outputs["scaled"], 2 * x.astype(np.float32))
    np.testing.assert_array_equal(outputs["next_ids"], ids.astype(np.int64) + 1)


@pytest.mark.parametrize("inputs, words", [
    ({"a": np.zeros((1, 3), np.float32)}, ["missing input 'b'", "float32[batch, 3]"]),
    ({"a": np.zeros((1, 3), np.float32), "b": np.zeros((1, 3), np.float32),
      "c": np.zeros(1)}, ["unexpected input 'c'"]),
    ({"a": np.zeros((1, 3), np.float64), "b": np.zeros((1, 3), np.float32)},
     ["input 'a'", "expected float32", "got float64"]),
    ({"a": np.zeros((1, 3, 1), np.float32), "b": np.zeros((1, 3), np.float32)},
     ["input 'a'", "rank", "expected 2", "got 3"]),
    ({"a": np.zeros((1, 3), np.float32), "b": np.zeros((1, 4), np.float32)},
     ["input 'b'", "dim 1", "expected 3", "got 4"]),
    ({"a": np.zeros((2, 3), np.float32), "b": np.zeros((3, 3), np.float32)},
     ["input 'b'", "'batch'", "expected 2", "got 3"]),
    ({"a": [[0.0, 0.0, 0.0]], "b": np.zeros((1, 3), np.float32)},
     ["input 'a'", "numpy array", "got list"]),
])
def test_bad_inputs_name_input_expected_and_got(manager, add_matmul_bytes, inputs, words):
    uid = loaded(manager, add_matmul_bytes)
    with pytest.raises(InvalidArgument) as err:
        manager.forward(uid, inputs)
    assert err.value.code == "INVALID_ARGUMENT"
    for word in words:
        assert word in str(err.value)
    assert manager.get_inference_statistics([uid])[0]["failure_count"] == 1


def test_inputs_must_be_a_map(manager, add_matmul_bytes):
    uid = loaded(manager, add_matmul_bytes)
    with pytest.raises(InvalidArgument, match="map"):
        manager.forward(uid, [np.zeros((1, 3), np.float32)])


def test_unknown_and_unloaded_models(manager, add_matmul_bytes):
    uid = manager.upload_model(add_matmul_bytes)
    inputs = {"a": np.zeros((1, 3), np.float32), "b": np.zeros((1, 3), np.float32)}
    with pytest.raises(NotFound):
        manager.forward("f" * 64, inputs)
    with pytest.raises(FailedPrecondition, match="not loaded"):
        manager.forward(uid, inputs)
    with pytest.raises(InvalidArgument):
        manager.forward(None, inputs)


def test_request_arguments_are_checked(manager, add_matmul_bytes):
    uid = loaded(manager, add_matmul_bytes)
    inputs = {"a": np.zeros((1, 3), np.float32), "b": np.zeros((1, 3), np.float32)}
    for kwargs in ({"request_id": 5}, {"priority": "high"}, {"priority": None},
                   {"deadline_ns": 1.5}, {"on_done": "not callable"}):
        args = {"on_done": lambda value: None, **kwargs}
        with pytest.raises(InvalidArgument):
            manager.submit_forward(uid, inputs, **args)


def test_deadline_already_past_is_rejected_at_once(manager, add_matmul_bytes):
    uid = loaded(manager, add_matmul_bytes)
    inputs = {"a": np.zeros((1, 3), np.float32), "b": np.zeros((1, 3), np.float32)}
    with pytest.raises(DeadlineExceeded):
        manager.forward(uid, inputs, deadline_ns=time.monotonic_ns() - 1)


def test_submit_returns_before_inference_and_echoes_request_id(make_manager, gate,
                                                               add_matmul_bytes):
    manager = make_manager(workers=1)
    uid = loaded(manager, add_matmul_bytes)
    a = np.ones((1, 3), np.float32)
    gate.hold(manager, uid, {"a": a, "b": a})  # the only worker is now busy
    collector = Collector(1)
    manager.submit_forward(uid, {"a": a, "b": 2 * a}, request_id="req-42",
                           on_done=collector.callback("x"))
    assert collector.outcomes == []            # returned while no worker could run it
    gate.release.set()
    (_, result), = collector.wait()
    assert isinstance(result, ForwardResult)
    assert result.request_id == "req-42" and result.uid == uid
    np.testing.assert_allclose(result.outputs["sum"], 3 * a)
    assert gate.value.request_id == "gate"


def test_concurrent_callers_each_get_their_own_answer(make_manager, add_matmul_bytes,
                                                      mixed_bytes):
    manager = make_manager(workers=2)
    am, mixed = loaded(manager, add_matmul_bytes), loaded(manager, mixed_bytes)
    errors: list[BaseException] = []

    def caller(seed: int) -> None:
        local = np.random.default_rng(seed)
        try:
            for _ in range(20):
                a = local.standard_normal((local.integers(1, 4), 3), np.float32)
                np.testing.assert_allclose(manager.forward(am, {"a": a, "b": a})["sum"], 2 * a)
                ids = local.integers(0, 9, (1, 3), dtype=np.int64)
                x = np.zeros((1, 4), np.float32)
                got = manager.forward(mixed, {"x": x, "ids": ids})["next_ids"]
                np.testing.assert_array_equal(got, ids + 1)
        except BaseException as exc:  # surfaced below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    assert not errors and not any(t.is_alive() for t in threads)
    stats = {s["uid"]: s for s in manager.get_inference_statistics()}
    assert stats[am]["success_count"] == stats[mixed]["success_count"] == 160


def test_models_run_in_parallel(make_manager, gate, add_matmul_bytes, fixed_bytes):
    """While model A's worker is held, model B is still served by the other worker."""
    manager = make_manager(workers=2)
    a_uid, b_uid = loaded(manager, add_matmul_bytes), loaded(manager, fixed_bytes)
    ones = np.ones((1, 3), np.float32)
    gate.hold(manager, a_uid, {"a": ones, "b": ones})
    x = rng.standard_normal((2, 3), np.float32)
    np.testing.assert_allclose(manager.forward(b_uid, {"x": x}, timeout_s=WAIT_S)["y"], 3 * x)


def test_statistics_count_requests_and_time(manager, add_matmul_bytes):
    uid = loaded(manager, add_matmul_bytes)
    for rows in (1, 2, 3):
        a = np.ones((rows, 3), np.float32)
        manager.forward(uid, {"a": a, "b": a})
    with pytest.raises(InvalidArgument):
        manager.forward(uid, {"a": np.ones((1, 3), np.float32)})
    (stats,) = manager.get_inference_statistics([uid])
    assert stats["success_count"] == 3 and stats["failure_count"] == 1
    assert stats["execution_count"] == 3
    assert stats["failures_by_code"] == {"INVALID_ARGUMENT": 1}
    assert stats["compute_infer_ns"] > 0 and stats["request_ns"] >= stats["compute_infer_ns"]
    assert stats["queue_ns"] >= 0 and stats["last_inference_ms"] > 0


def test_unload_answers_queued_requests_unavailable(make_manager, gate, add_matmul_bytes):
    manager = make_manager(workers=1)
    uid = loaded(manager, add_matmul_bytes)
    ones = np.ones((1, 3), np.float32)
    gate.hold(manager, uid, {"a": ones, "b": ones})
    collector = Collector(3)
    for i in range(3):
        manager.submit_forward(uid, {"a": ones, "b": ones}, on_done=collector.callback(str(i)))
    manager.unload_models([uid])
    gate.release.set()
    assert [v.code for _, v in collector.wait()] == ["UNAVAILABLE"] * 3


def test_close_answers_queued_requests(make_manager, gate, add_matmul_bytes):
    manager = make_manager(workers=1)
    uid = loaded(manager, add_matmul_bytes)
    ones = np.ones((1, 3), np.float32)
    gate.hold(manager, uid, {"a": ones, "b": ones})
    collector = Collector(2)
    for i in range(2):
        manager.submit_forward(uid, {"a": ones, "b": ones}, on_done=collector.callback(str(i)))
    manager.close(timeout_s=0.2)  # the held worker cannot stop in time
    assert [v.code for _, v in collector.wait()] == ["UNAVAILABLE"] * 2
    with pytest.raises(Unavailable):
        manager.submit_forward(uid, {"a": ones, "b": ones}, on_done=lambda value: None)
