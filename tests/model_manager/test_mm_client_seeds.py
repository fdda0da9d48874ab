"""Our ZeroMQ client in the seeds' idiom: InferInput/InferResult, streams, responses with .error."""
from __future__ import annotations

import numpy as np
import pytest

import onnx_fixtures
from edge.errors import InvalidArgument, NotFound
from nodes.model_manager.results import InferInput, InferRequestedOutput

pytestmark = pytest.mark.timeout(60)

W = onnx_fixtures.add_matmul_weight()


def inputs_for(a: np.ndarray, b: np.ndarray) -> list[InferInput]:
    return [InferInput("a", a.shape, "FP32").set_data_from_numpy(a),
            InferInput("b", b.shape, "FP32").set_data_from_numpy(b)]


def test_infer_reads_like_tritonclient(client, add_matmul_bytes):
    client.upload_model(add_matmul_bytes, {"name": "am", "version": "2"})
    client.load_models(["am"])
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    result = client.infer("am", inputs_for(a, a), model_version="2", request_id="r7",
                          outputs=[InferRequestedOutput("prod")])
    np.testing.assert_allclose(result.as_numpy("prod"), a @ W, rtol=1e-5)
    assert result.as_numpy("sum") is None
    assert result.get_response()["id"] == "r7"
    assert result.get_output("prod") == {"name": "prod", "datatype": "FP32", "shape": [2, 2]}
    with pytest.raises(InvalidArgument, match="not an output"):
        client.infer("am", inputs_for(a, a), outputs=[InferRequestedOutput("nope")])
    with pytest.raises(InvalidArgument, match="declared FP32"):
        InferInput("a", [2, 3], "FP32").set_data_from_numpy(a.astype(np.float64))


def test_stream_answers_many_requests_on_one_connection(client, add_matmul_bytes):
    client.upload_model(add_matmul_bytes, {"name": "am"})
    client.load_models(["am"], {"max_batch_size": 8, "max_queue_delay_us": 2000})
    with client.start_stream() as stream:
        sent = {}
        for i in range(20):
            a = np.full((1, 3), i, np.float32)
            sent[stream.async_stream_infer("am", inputs_for(a, a), request_id=f"q{i}")] = i
        bad = stream.async_stream_infer("no-such", {"a": a, "b": a})
        assert stream.pending == 21
        got, errors = {}, []
        for _ in range(21):
            try:
                result = stream.get_result(timeout_s=20)
                got[result.request_id] = result.as_numpy("sum")
            except NotFound as exc:
                errors.append(exc.details["request_id"])
        assert stream.pending == 0
    assert errors == [bad]
    assert sorted(got) == sorted(sent)
    for request_id, i in sent.items():
        assert got[request_id].tolist() == [[2.0 * i] * 3]
    [stats] = client.get_inference_statistics(["am"])
    assert stats["success_count"] == 20


def test_responses_carry_the_error_like_pykos(client, add_matmul_bytes):
    calls = client.responses
    bad = calls.upload_model(b"not onnx")
    assert not bad.success and bad.error.code == "INVALID_ARGUMENT"
    uploaded = calls.upload_model(add_matmul_bytes, {"model_name": "am"})
    assert uploaded.error is None and len(uploaded.model_uid) == 64
    loaded = calls.load_models([uploaded.model_uid])
    assert loaded.success and loaded.models[0].loaded
    a = np.ones((1, 3), np.float32)
    assert calls.forward("am", {"a": a, "b": a}).outputs["sum"].tolist() == [[2, 2, 2]]
    assert calls.forward("no-such", {"a": a}).error.code == "NOT_FOUND"
    assert calls.unload_models([uploaded.model_uid]).success
    assert calls.get_models_info([uploaded.model_uid]).models[0].loaded is False
