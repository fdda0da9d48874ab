"""tritonclient.grpc and pykos, unchanged, against `edge model serve --grpc` (real process)."""
from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import onnx
import pytest

import onnx_fixtures
from grpc_clients import (InferenceServerException, grpc, infer_inputs, kos_array, kos_call,
                          kos_tensor, service_pb2, service_pb2_grpc, tritongrpc)
from nodes.model_manager.client import ModelManagerClient
from edge.launch.control import ControlClient
from server_process import ServerProcess, edge_command, service_of

pytestmark = pytest.mark.timeout(90)

W = onnx_fixtures.add_matmul_weight()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One manager for the module; tests use their own model names."""
    tmp = tmp_path_factory.mktemp("grpc")
    server = ServerProcess(tmp / "repo", f"ipc://{tmp}/mm.sock", tmp / "server.log",
                           "--grpc", "127.0.0.1:0")
    try:
        server.start()
        assert server.grpc_address.startswith("127.0.0.1:"), server.grpc_address
        yield server
    finally:
        server.stop()


@pytest.fixture
def triton(served):
    client = tritongrpc.InferenceServerClient(served.grpc_address)
    yield client
    client.close()


def tagged(data: bytes, tag: str) -> bytes:
    """Other bytes (so another uid) for the same graph: tests share one server."""
    model = onnx.load_model_from_string(data)
    model.doc_string = tag
    return model.SerializeToString()


def upload(served, data: bytes, name: str, version: str = "1") -> str:
    with ModelManagerClient(served.endpoint) as client:
        return client.upload_model(tagged(data, name), {"name": name, "version": version})


def test_triton_health_metadata_config_and_index(served, triton, add_matmul_bytes):
    uid = upload(served, add_matmul_bytes, "meta", "7")
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.get_server_metadata().name == "edge-runtime model manager"
    assert not triton.is_model_ready("meta") and not triton.is_model_ready("no-such")
    meta = triton.get_model_metadata("meta", as_json=True)
    assert meta["versions"] == ["7"] and meta["platform"] == "onnxruntime_onnx"
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [
        ("a", "FP32", ["-1", "3"]), ("b", "FP32", ["-1", "3"])]
    triton.load_model("meta", config='{"max_batch_size": 4, "dynamic_batching": '
                                     '{"max_queue_delay_microseconds": 50}}')
    assert triton.is_model_ready("meta", "7") and triton.is_model_ready(uid)
    config = triton.get_model_config("meta").config
    assert config.max_batch_size == 4 and list(config.input[0].dims) == [3]
    assert config.dynamic_batching.max_queue_delay_microseconds == 50
    assert config.parameters["uid"].string_value == uid
    index = {(m.name, m.version): m.state for m in triton.get_model_repository_index().models}
    assert index[("meta", "7")] == "READY"
    triton.unload_model("meta")
    assert not triton.is_model_ready("meta")
    ready_only = triton.get_model_repository_index(as_json=True).get("models", [])
    assert all(m.get("name") != "meta" for m in ready_only if m.get("state") == "READY")


def test_triton_infer_outputs_priority_timeout_and_statistics(served, triton, add_matmul_bytes):
    upload(served, onnx_fixtures.add_matmul_model(), "infer")
    triton.load_model("infer")
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.ones((2, 3), np.float32)
    result = triton.infer("infer", infer_inputs({"a": a, "b": b}), request_id="r1")
    assert result.get_response().id == "r1"
    np.testing.assert_allclose(result.as_numpy("sum"), a + b)
    np.testing.assert_allclose(result.as_numpy("prod"), a @ W, rtol=1e-5)
    only = triton.infer("infer", infer_inputs({"a": a, "b": b}), priority=1, timeout=5_000_000,
                        client_timeout=10, outputs=[tritongrpc.InferRequestedOutput("prod")])
    assert only.as_numpy("sum") is None and only.as_numpy("prod").shape == (2, 2)
    stats = triton.get_inference_statistics("infer").model_stats[0]
    assert (stats.name, stats.inference_count, stats.execution_count) == ("infer", 2, 2)
    assert stats.inference_stats.success.count == 2 and stats.inference_stats.queue.ns > 0


@pytest.mark.parametrize("change, status, words", [
    ({"model": "no-such"}, "NOT_FOUND", "no model with uid or name"),
    ({"shape": (2, 4)}, "INVALID_ARGUMENT", "dim 1"),
    ({"datatype": "BYTES"}, "INVALID_ARGUMENT", "numeric tensors only"),
    ({"datatype": "INT64"}, "INVALID_ARGUMENT", "dtype"),
    ({"output": "nope"}, "INVALID_ARGUMENT", "not an output"),
])
def test_triton_errors_are_status_codes(served, triton, change, status, words):
    model = f"errors-{status}-{words}"
    upload(served, onnx_fixtures.add_matmul_model(), model)
    triton.load_model(model)
    shape = change.get("shape", (1, 3))
    datatype = change.get("datatype", "FP32")
    inputs = []
    for name in "ab":
        tensor = tritongrpc.InferInput(name, list(shape), datatype)
        if datatype == "BYTES":
            tensor.set_data_from_numpy(np.array([[b"x"] * shape[1]] * shape[0], dtype=object))
        else:
            tensor.set_data_from_numpy(np.ones(shape, np.dtype(
                "int64" if datatype == "INT64" else "float32")))
        inputs.append(tensor)
    outputs = [tritongrpc.InferRequestedOutput(change["output"])] if "output" in change else None
    with pytest.raises(InferenceServerException) as caught:
        triton.infer(change.get("model", model), inputs, outputs=outputs)
    assert caught.value.status() == f"StatusCode.{status}" and words in caught.value.message()


def test_triton_not_loaded_is_failed_precondition(served, triton, fixed_bytes):
    upload(served, fixed_bytes, "cold")
    for bad in ('{"dynamic_batching": {"max_queue_delay_microseconds": "soon"}}', "[1]", "{",
                '{"max_batch_size": 4}'):  # the last: a fixed first dim cannot batch
        with pytest.raises(InferenceServerException) as caught:
            triton.load_model("cold", config=bad)
        assert caught.value.status() == "StatusCode.INVALID_ARGUMENT", caught.value
    with pytest.raises(InferenceServerException) as caught:
        triton.infer("cold", infer_inputs({"x": np.ones((2, 3), np.float32)}))
    assert caught.value.status() == "StatusCode.FAILED_PRECONDITION"


def test_triton_stream_answers_every_request_and_keeps_going_after_errors(served, triton):
    upload(served, onnx_fixtures.add_matmul_model(), "stream")
    triton.load_model("stream")
    answers: queue.Queue = queue.Queue()
    triton.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        for i in range(8):
            a = np.full((1, 3), i, np.float32)
            triton.async_stream_infer("stream", infer_inputs({"a": a, "b": a}), request_id=str(i))
        triton.async_stream_infer("no-such", infer_inputs({"a": a, "b": a}), request_id="bad")
        triton.async_stream_infer("stream", infer_inputs({"a": a, "b": a}), request_id="after")
        got = [answers.get(timeout=20) for _ in range(10)]
    finally:
        triton.stop_stream()
    errors = [error for result, error in got if error is not None]
    assert len(errors) == 1 and "NOT_FOUND" in errors[0].message()
    sums = {r.get_response().id: r.as_numpy("sum") for r, e in got if r is not None}
    assert sorted(sums) == sorted([*map(str, range(8)), "after"])
    assert all(sums[str(i)].tolist() == [[2.0 * i] * 3] for i in range(8))


def test_pykos_upload_load_info_forward_unload(served, mixed_bytes):
    address = served.grpc_address
    reply = kos_call(address, "upload_model", tagged(mixed_bytes, "kos-mixed"),
                     {"model_name": "kos-mixed", "model_version": "3"})
    assert not reply.HasField("error") and len(reply.model_uid) == 64
    uid = reply.model_uid
    loaded = kos_call(address, "load_models", [uid])
    assert loaded.result.success and [m.uid for m in loaded.models] == [uid]
    info = kos_call(address, "get_models_info", [uid])
    assert info["error"] is None
    [model] = info["models"]
    assert model["metadata"]["model_name"] == "kos-mixed"
    assert model["input_specs"]["ids"]["shape"][1] == {"size": 0, "name": "seq", "dynamic": True}
    assert "ids: int64[batch, seq]" in model["description"]
    x, ids = np.ones((2, 4), np.float32), np.array([[1, 2, 3], [4, 5, 6]])
    out = kos_call(address, "forward", uid, {"x": kos_tensor(x), "ids": kos_tensor(ids)})
    assert out["error"] is None
    np.testing.assert_array_equal(kos_array(out["outputs"]["scaled"]), 2 * x)
    np.testing.assert_array_equal(kos_array(out["outputs"]["next_ids"]), ids + 1)
    assert kos_call(address, "unload_models", [uid]).success


@pytest.mark.parametrize("method, args, words", [
    ("upload_model", (b"not onnx",), "INVALID_ARGUMENT: model data is not an ONNX"),
    ("forward", ("no-such-model", {}), "NOT_FOUND"),
    ("load_models", (["f" * 64],), "NOT_FOUND"),
    ("get_models_info", (["no-such"],), "NOT_FOUND"),
])
def test_pykos_errors_come_in_the_error_field(served, method, args, words):
    reply = kos_call(served.grpc_address, method, *args)
    error = reply["error"] if isinstance(reply, dict) else (
        reply.result.error if method == "load_models" else reply.error)
    assert words in error.message
    if method == "load_models":
        assert not reply.result.success


def test_pykos_forward_checks_values_against_the_model(served, add_matmul_bytes):
    uid = kos_call(served.grpc_address, "upload_model", tagged(add_matmul_bytes, "kos-check"),
                   {"model_name": "kos-check"}).model_uid
    kos_call(served.grpc_address, "load_models", [uid])
    short = {"values": [1.0, 2.0], "shape": [{"size": 1, "name": "", "dynamic": False},
                                             {"size": 3, "name": "", "dynamic": False}]}
    out = kos_call(served.grpc_address, "forward", uid, {"a": short, "b": short})
    assert "INVALID_ARGUMENT" in out["error"].message and "2 values" in out["error"].message


def test_one_model_for_triton_pykos_and_zeromq_at_once(served, triton):
    """pykos uploads; tritonclient finds it by name; all three clients run it concurrently."""
    data = onnx_fixtures.matmul_chain_model(width=32, depth=2)
    uid = kos_call(served.grpc_address, "upload_model", data,
                   {"model_name": "shared", "model_version": "1"}).model_uid
    triton.load_model("shared")
    x = np.random.default_rng(3).standard_normal((2, 32)).astype(np.float32)
    expected = onnx_fixtures.matmul_chain_reference(x, width=32, depth=2)
    results: dict[str, list] = {"triton": [], "kos": [], "zmq": []}

    def run_triton() -> None:
        client = tritongrpc.InferenceServerClient(served.grpc_address)
        for _ in range(5):
            results["triton"].append(client.infer("shared", infer_inputs({"x": x})).as_numpy("y"))
        client.close()

    def run_kos() -> None:
        for _ in range(2):
            out = kos_call(served.grpc_address, "forward", uid, {"x": kos_tensor(x)})
            results["kos"].append(kos_array(out["outputs"]["y"]))

    def run_zmq() -> None:
        with ModelManagerClient(served.endpoint) as client:
            for _ in range(5):
                results["zmq"].append(client.forward("shared", {"x": x})["y"])

    threads = [threading.Thread(target=f) for f in (run_triton, run_kos, run_zmq)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [len(v) for v in results.values()] == [5, 2, 5]
    for got in [r for v in results.values() for r in v]:
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    stats = triton.get_inference_statistics("shared").model_stats[0]
    assert stats.inference_stats.success.count == 12


def test_without_the_extra_grpc_says_what_to_install(monkeypatch, tmp_path):
    from edge.errors import FailedPrecondition
    from nodes.model_manager.frontends import open_grpc
    monkeypatch.delitem(sys.modules, "nodes.model_manager.frontends.server", raising=False)
    monkeypatch.setitem(sys.modules, "grpc", None)
    with pytest.raises(FailedPrecondition, match=r"pip install 'edge-runtime\[grpc\]'"):
        open_grpc(None, "127.0.0.1:0")


def test_node_parameter_and_a_taken_port(tmp_path, served):
    from edge.errors import Unavailable
    from nodes.model_manager.node import HostedManager
    hosted = HostedManager({"repo": str(tmp_path / "r1"), "grpc": "127.0.0.1:0", "workers": 1})
    try:
        client = tritongrpc.InferenceServerClient(hosted.grpc_address)
        assert client.is_server_live()
        client.close()
    finally:
        hosted.close()
    with pytest.raises(Unavailable, match="cannot serve gRPC"):
        HostedManager({"repo": str(tmp_path / "r2"), "grpc": served.grpc_address})


def test_launched_node_serves_grpc(tmp_path, add_matmul_bytes):
    """The node type's `grpc` parameter, under `edge launch`."""
    with socket.socket() as probe:  # a free port: the node's log is not ours to read
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launch = tmp_path / "models.yaml"
    launch.write_text(f"name: models\nnodes:\n  - name: models\n    type: model_manager\n"
                      f"    parameters: {{repo: {tmp_path / 'repo'}, workers: 1, "
                      f"grpc: '127.0.0.1:{port}'}}\n")
    runtime = f"/tmp/mmg{os.getpid()}"
    env = {**os.environ, "EDGE_RUNTIME_DIR": runtime, "PYTHONUNBUFFERED": "1"}
    env.pop("EDGE_CONTROL", None)
    proc = subprocess.Popen([*edge_command(), "launch", str(launch), "--no-color"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = tritongrpc.InferenceServerClient(f"127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.is_server_ready(client_timeout=1):
                    break
            except InferenceServerException:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "no gRPC from the node"
            time.sleep(0.2)
        assert client.get_model_repository_index().models == []
        with ControlClient(f"ipc://{runtime}/control.sock") as control:
            endpoint = service_of(control, "models")  # ZeroMQ too, on the node's own service
        with ModelManagerClient(endpoint, timeout_s=10) as zmq_client:
            uid = zmq_client.upload_model(add_matmul_bytes)
        assert len(client.get_model_repository_index().models) == 1, uid
    finally:
        client.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(runtime, ignore_errors=True)


def test_hostile_infer_requests_are_invalid_argument_and_the_server_goes_on(served, triton):
    """Raw KServe v2 requests through the generated stub, as any gRPC client could send."""
    pb = service_pb2
    upload(served, onnx_fixtures.add_matmul_model(), "hostile")
    triton.load_model("hostile")
    ones = np.ones((1, 3), np.float32).tobytes()

    def request(**change) -> pb.ModelInferRequest:
        req = pb.ModelInferRequest(model_name="hostile")
        for name in "ab":
            req.inputs.add(name=name, datatype=change.get("datatype", "FP32"),
                           shape=change.get("shape", [1, 3]))
        req.raw_input_contents.extend(change.get("raw", [ones, ones]))
        return req

    typed = pb.ModelInferRequest(model_name="hostile")
    for name in "ab":
        typed.inputs.add(name=name, datatype="FP32", shape=[1, 3]).contents.fp32_contents.extend(
            [1.0, 2.0, 3.0])
    twice = request()
    twice.inputs[1].name = "a"
    hostile = [request(raw=[ones]), request(raw=[ones, b"\x00" * 5]),
               request(shape=[-1, 3]), request(shape=[2**40, 2**40]),
               request(datatype="STRING"), twice, pb.ModelInferRequest(model_name="")]
    with grpc.insecure_channel(served.grpc_address) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        for bad in hostile:
            with pytest.raises(grpc.RpcError) as caught:
                stub.ModelInfer(bad, timeout=10)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
        reply = stub.ModelInfer(typed, timeout=10)  # typed lists instead of raw bytes
        total = np.frombuffer(reply.raw_output_contents[0], np.float32)
        assert reply.outputs[0].name == "sum" and total.tolist() == [2.0, 4.0, 6.0]
