"""The model manager over real sockets: `edge model serve` in a child process, every
method through ModelManagerClient, and every error code reaching the client."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

import onnx_fixtures
from edge.errors import (EdgeError, FailedPrecondition, InvalidArgument, NotFound,
                         ResourceExhausted)
from messages import Dim, ModelInfo, ModelMetadata
from nodes.model_manager.client import ModelManagerClient

pytestmark = pytest.mark.timeout(60)

ONES = np.ones((2, 3), np.float32)
METHODS = {"is_server_live", "is_server_ready", "is_model_ready", "get_server_metadata",
           "upload_model", "begin_upload", "upload_chunk", "finish_upload", "abort_upload",
           "download_model", "delete_model", "load_models", "unload_models", "get_models_info",
           "get_model_metadata", "get_model_config", "get_model_repository_index",
           "get_inference_statistics", "forward", "async_request", "get_async_response"}
OLD_NAMES = {"live", "ready", "model_ready", "upload.begin", "upload.chunk", "upload.finish",
             "upload.abort", "model_metadata", "repository_index", "statistics"}


def test_every_method_round_trips(client, add_matmul_bytes):
    assert client.is_server_live() and client.is_server_ready()
    assert METHODS | OLD_NAMES <= set(client.call("methods"))
    uid = client.upload_model(add_matmul_bytes, {"model_name": "am", "model_version": "2"})
    assert uid == hashlib.sha256(add_matmul_bytes).hexdigest()
    [info] = client.get_models_info()
    assert isinstance(info, ModelInfo) and info.uid == uid and not info.loaded
    assert info.metadata == ModelMetadata(name="am", version="2")
    assert info.input_specs[0].shape == [Dim(None, "batch", True), Dim(3, None, False)]
    assert client.get_model_metadata(uid) == info
    assert client.get_models_info([uid]) == [info]
    assert not client.is_model_ready(uid)
    assert client.get_model_repository_index() == [
        {"uid": uid, "name": "am", "state": "UNAVAILABLE", "reason": "not loaded"}]

    client.load_models([uid])
    assert client.is_model_ready(uid) and client.get_model_metadata(uid).loaded
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    outputs = client.forward(uid, {"a": a, "b": ONES})
    np.testing.assert_allclose(outputs["sum"], a + 1)
    np.testing.assert_allclose(outputs["prod"], a @ onnx_fixtures.add_matmul_weight(), rtol=1e-6)
    task_id = client.async_request(uid, {"a": a, "b": a})
    np.testing.assert_allclose(client.wait_async_response(task_id)["sum"], 2 * a)
    assert client.get_async_response(task_id)["state"] == "SUCCESS"
    [stats] = client.get_inference_statistics([uid])
    assert stats["success_count"] == 2 and stats["failure_count"] == 0
    assert client.get_model_repository_index()[0]["state"] == "READY"

    client.unload_models([uid])
    assert not client.is_model_ready(uid)


def test_forward_echoes_the_request_id(client, add_matmul_bytes):
    uid = client.upload_model(add_matmul_bytes)
    client.load_models([uid])
    reply = client.call("forward", {"uid": uid, "inputs": {"a": ONES, "b": ONES}})
    assert reply["uid"] == uid and isinstance(reply["request_id"], str) and reply["request_id"]
    assert not reply["outputs"]["sum"].flags.writeable  # a zero-copy view on the frame


def test_chunked_upload_with_progress_and_retried_chunks(client, ppocr_bytes):
    calls: list[tuple[int, int]] = []
    uid = client.upload_model(ppocr_bytes, {"name": "det"}, chunk_bytes=1 << 20,
                              progress=lambda done, total: calls.append((done, total)))
    assert uid == hashlib.sha256(ppocr_bytes).hexdigest()
    assert len(calls) == -(-len(ppocr_bytes) // (1 << 20))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[-1][0] == len(ppocr_bytes)

    data = onnx_fixtures.mixed_dtype_model()
    begin = {"total_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    upload_id = client.call("begin_upload", begin)["upload_id"]
    half = len(data) // 2
    for _ in range(2):  # a chunk sent twice is harmless
        reply = client.call("upload_chunk", {"upload_id": upload_id, "offset": 0,
                                             "data": data[:half]})
        assert reply == {"received_bytes": half}
    with pytest.raises(FailedPrecondition, match=f"offset {half}"):
        client.call("finish_upload", {"upload_id": upload_id})
    client.call("upload_chunk", {"upload_id": upload_id, "offset": half, "data": data[half:]})
    assert client.call("finish_upload", {"upload_id": upload_id})["uid"] == begin["sha256"]

    upload_id = client.call("begin_upload", begin)["upload_id"]
    client.call("abort_upload", {"upload_id": upload_id})
    with pytest.raises(NotFound):
        client.call("upload_chunk", {"upload_id": upload_id, "offset": 0, "data": data})


def error_of(call) -> EdgeError:
    with pytest.raises(EdgeError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("data", [b"definitely not an onnx model", bytes(range(256)) * 64])
def test_non_onnx_bytes_are_invalid_argument(client, data):
    err = error_of(lambda: client.upload_model(data))
    assert err.code == "INVALID_ARGUMENT" and "onnx" in err.message.lower()


@pytest.mark.parametrize("chunk_bytes", [1 << 30, 1 << 20])
def test_truncated_model_is_invalid_argument(client, ppocr_bytes, chunk_bytes):
    err = error_of(lambda: client.upload_model(ppocr_bytes[:len(ppocr_bytes) // 2],
                                               chunk_bytes=chunk_bytes))
    assert isinstance(err, InvalidArgument) and "onnx" in err.message.lower()
    assert client.get_model_repository_index() == []


@pytest.mark.parametrize("chunk_bytes", [1 << 30, 1 << 20])
def test_oversized_upload_is_resource_exhausted(start_server, ppocr_bytes, chunk_bytes):
    server = start_server("--max-model-bytes", "1000000")
    with ModelManagerClient(server.endpoint) as client:
        err = error_of(lambda: client.upload_model(ppocr_bytes, chunk_bytes=chunk_bytes))
        assert isinstance(err, ResourceExhausted) and "max_model_bytes" in err.message
        assert client.get_models_info() == []


@pytest.mark.parametrize("metadata, key", [
    ({"name": 5}, "name"), ({"version": ["1"]}, "version"), ({"colour": "red"}, "colour"),
    ({"name": "x" * 10_000}, "name"), ({"name": "bad\x00name\n"}, "name")])
def test_wrong_or_hostile_metadata_is_invalid_argument(client, add_matmul_bytes, metadata, key):
    err = error_of(lambda: client.upload_model(add_matmul_bytes, metadata))
    assert isinstance(err, InvalidArgument) and key in err.message
    assert err.details == {"key": key}


def test_metadata_must_be_a_map(client, add_matmul_bytes):
    err = error_of(lambda: client.call("upload_model", {"model_data": add_matmul_bytes,
                                                        "metadata": ["name"]}))
    assert isinstance(err, InvalidArgument) and "metadata must be a map" in err.message


def test_hostile_names_never_become_paths(client, server, add_matmul_bytes):
    name = "../../../../tmp/evil"
    uid = client.upload_model(add_matmul_bytes, {"name": name})
    assert client.get_model_metadata(uid).metadata.name == name
    for bad in ("../" * 8 + "etc/passwd", "/etc/passwd", uid[:10] + "/..", "A" * 64):
        assert isinstance(error_of(lambda: client.load_models([bad])), NotFound)
        assert isinstance(error_of(lambda: client.call("upload_chunk", {
            "upload_id": bad, "offset": 0, "data": b"x"})), NotFound)
    files = {str(p.relative_to(server.repo)) for p in server.repo.rglob("*") if p.is_file()}
    assert files == {f"models/{uid}.onnx", f"models/{uid}.json", ".lock"}


def test_unknown_uid_is_not_found(client):
    uid = "0" * 64
    for call in (lambda: client.load_models([uid]), lambda: client.unload_models([uid]),
                 lambda: client.get_model_metadata(uid), lambda: client.forward(uid, {}),
                 lambda: client.get_inference_statistics([uid])):
        err = error_of(call)
        assert err.code == "NOT_FOUND" and uid in err.message
    assert isinstance(error_of(lambda: client.get_async_response("nope")), NotFound)


def test_model_not_loaded_is_failed_precondition(client, add_matmul_bytes):
    uid = client.upload_model(add_matmul_bytes)
    err = error_of(lambda: client.forward(uid, {"a": ONES, "b": ONES}))
    assert isinstance(err, FailedPrecondition) and "not loaded" in err.message
    assert err.details == {"uid": uid}


@pytest.mark.parametrize("inputs, words", [
    ({"a": ONES.astype(np.float64), "b": ONES}, ["'a'", "dtype", "float32", "float64"]),
    ({"a": ONES, "b": np.ones((2, 4), np.float32)}, ["'b'", "dim 1", "[2, 4]"]),
    ({"a": np.ones(3, np.float32), "b": ONES}, ["'a'", "rank"]),
    ({"a": ONES}, ["missing input 'b'"]),
    ({"a": ONES, "b": ONES, "c": ONES}, ["unexpected input 'c'"]),
    ({"a": ONES, "b": [[1.0, 2.0, 3.0]]}, ["'b'", "numpy array"]),
])
def test_bad_inputs_are_invalid_argument_naming_the_input(client, add_matmul_bytes, inputs,
                                                          words):
    uid = client.upload_model(add_matmul_bytes)
    client.load_models([uid])
    err = error_of(lambda: client.forward(uid, inputs))
    assert isinstance(err, InvalidArgument)
    for word in words:
        assert word in err.message
    [stats] = client.get_inference_statistics([uid])
    assert stats["failures_by_code"] == {"INVALID_ARGUMENT": 1}


def test_unbatchable_config_and_bad_config_keys(client, fixed_bytes):
    uid = client.upload_model(fixed_bytes)
    err = error_of(lambda: client.load_models([uid], {"max_batch_size": 8}))
    assert isinstance(err, InvalidArgument) and err.details["key"] == "max_batch_size"
    err = error_of(lambda: client.load_models([uid], {"threads": 8}))
    assert isinstance(err, InvalidArgument) and "'threads'" in err.message
    assert not client.is_model_ready(uid)


def test_download_model_round_trips_the_bytes(client, add_matmul_bytes):
    uid = client.upload_model(add_matmul_bytes, {"name": "am"})
    assert client.download_model(uid) == add_matmul_bytes
    reply = client.call("download_model", {"uid": uid})
    assert reply["uid"] == uid and reply["metadata"]["name"] == "am"
    assert reply["model_data"].dtype == np.uint8 and reply["model_data"].ndim == 1
    assert client.resolve_uid("am") == uid and client.resolve_uid(uid) == uid
    with pytest.raises(NotFound, match="known names: am"):
        client.resolve_uid("nope")
    with pytest.raises(NotFound):
        client.download_model("0" * 64)
