"""Any request the gRPC front door can be sent, as raw protobuf through the generated stubs:
Triton's ModelInfer and ModelStreamInfer, pykos's Forward. Each is answered or refused
with a clear code, never INTERNAL or UNKNOWN (an exception nobody expected), and the
server keeps serving.

Requests start as valid ones for the loaded add_matmul model (a, b: float32 [batch, 3]);
hypothesis changes their names, datatypes, shapes (up to int64's range), contents and
parameters.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from grpc_clients import grpc, service_pb2 as pb, service_pb2_grpc

kos = pytest.importorskip("kos_protos.inference_pb2")
kos_grpc = pytest.importorskip("kos_protos.inference_pb2_grpc")
from nodes.model_manager.frontends.server import GrpcFrontDoor  # noqa: E402

pytestmark = pytest.mark.timeout(300)

UNEXPECTED = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
DATATYPES = ["FP32", "FP64", "INT64", "UINT8", "BOOL", "FP16", "BYTES", "STRING", ""]
ROW = np.ones((1, 3), np.float32).tobytes()

dims = st.one_of(st.sampled_from([1, 3, 0, -1, 2**31, 2**32, 2**62]),
                 st.integers(-2**63, 2**63 - 1))
shapes = st.one_of(st.just([1, 3]), st.lists(dims, max_size=4))
raws = st.one_of(st.just(ROW), st.sampled_from([b"", b"\x00" * 5, ROW * 2]),
                 st.binary(max_size=40))
names = st.sampled_from(["a", "b", "c", ""])
numbers = st.one_of(st.integers(-2**63, 2**63 - 1), st.sampled_from([0, 1, -1]))


@pytest.fixture(scope="module")
def door(loaded_manager):
    """(Triton stub, pykos stub, the model's uid) on one in-process server."""
    manager, uid = loaded_manager
    server = GrpcFrontDoor(manager, "127.0.0.1:0")
    channel = grpc.insecure_channel(server.address)
    yield (service_pb2_grpc.GRPCInferenceServiceStub(channel),
           kos_grpc.InferenceServiceStub(channel), uid)
    channel.close()
    server.close()


@st.composite
def infer_requests(draw, uid: str) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(
        model_name=draw(st.sampled_from([uid, "add_matmul", "", "nope", "../x"])),
        model_version=draw(st.sampled_from(["", "1", "x", "-1", "9" * 30])),
        id=draw(st.text(max_size=8)))
    typed = draw(st.booleans())
    for name in draw(st.one_of(st.just(["a", "b"]), st.lists(names, max_size=3))):
        tensor = request.inputs.add(name=name, datatype=draw(st.one_of(
            st.just("FP32"), st.sampled_from(DATATYPES))), shape=draw(shapes))
        if typed:
            values = draw(st.lists(st.floats(width=32), max_size=6))
            field = draw(st.sampled_from(["fp32_contents", "int64_contents", "bool_contents"]))
            getattr(tensor.contents, field).extend(
                [float(v) if field == "fp32_contents" else bool(v) if field == "bool_contents"
                 else int(v) if abs(v) < 2**62 else 0 for v in values])
    if not typed:
        count = draw(st.one_of(st.just(len(request.inputs)), st.integers(0, 3)))
        request.raw_input_contents.extend(draw(st.lists(raws, min_size=count, max_size=count)))
    for output in draw(st.lists(st.sampled_from(["sum", "x", ""]), max_size=2)):
        request.outputs.add(name=output)
    for key in draw(st.lists(st.sampled_from(["priority", "timeout", "other"]), max_size=2)):
        kind = draw(st.sampled_from(["int64_param", "uint64_param", "string_param", "bool_param"]))
        value = (draw(st.text(max_size=4)) if kind == "string_param" else
                 draw(st.booleans()) if kind == "bool_param" else
                 draw(numbers) % 2**64 if kind == "uint64_param" else draw(numbers))
        setattr(request.parameters[key], kind, value)
    return request


@st.composite
def forward_requests(draw, uid: str):
    request = kos.ForwardRequest(model_uid=draw(st.sampled_from([uid, "add_matmul", "", "x"])))
    for name in draw(st.one_of(st.just(["a", "b"]), st.lists(names, max_size=3))):
        tensor = request.inputs[name]
        tensor.values.extend(draw(st.lists(st.floats(width=32), max_size=6)))
        for size in draw(st.one_of(st.just([1, 3]), st.lists(
                st.sampled_from([0, 1, 3, 2**16, 2**31, 2**32 - 1]), max_size=4))):
            tensor.shape.add(size=size)
    return request


@given(data=st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_triton_infer_request_is_answered_or_refused_clearly(door, data):
    triton, _, uid = door
    request = data.draw(infer_requests(uid))
    try:
        triton.ModelInfer(request, timeout=20)
    except grpc.RpcError as exc:
        assert exc.code() not in UNEXPECTED, f"{exc.code()}: {exc.details()}\n{request}"
    if data.draw(st.booleans()):  # the same on a stream: errors come as error_message
        for reply in triton.ModelStreamInfer(iter([request, request]), timeout=20):
            assert not reply.error_message.startswith(("INTERNAL", "UNKNOWN")), (
                f"{reply.error_message}\n{request}")
    assert triton.ServerLive(pb.ServerLiveRequest(), timeout=10).live


@given(data=st.data())
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_pykos_forward_is_answered_or_refused_clearly(door, data):
    triton, inference, uid = door
    request = data.draw(forward_requests(uid))
    reply = inference.Forward(request, timeout=20)
    if reply.HasField("error"):
        assert not reply.error.message.startswith(("INTERNAL", "UNKNOWN")), (
            f"{reply.error.message}\n{request}")
    assert triton.ServerLive(pb.ServerLiveRequest(), timeout=10).live


@pytest.mark.parametrize("shape", [[2**32, 2**32], [0, 2**40, 2**40], [2**62, 2**2]])
def test_shapes_whose_element_count_overflows_int64_are_refused(door, shape):
    """A count taken in int64 wraps to 0 (or numpy refuses the dims): no content matches."""
    triton, inference, uid = door
    request = pb.ModelInferRequest(model_name=uid)
    for name in "ab":
        request.inputs.add(name=name, datatype="FP32", shape=shape)
    request.raw_input_contents.extend([b"", b""])
    with pytest.raises(grpc.RpcError) as caught:
        triton.ModelInfer(request, timeout=20)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    forward = kos.ForwardRequest(model_uid=uid)
    for name in "ab":
        forward.inputs[name].shape.extend(
            [kos.Tensor.Dimension(size=size) for size in (0, 2**31, 2**31, 2**31)])
    reply = inference.Forward(forward, timeout=20)
    assert reply.error.message.startswith("INVALID_ARGUMENT"), reply.error.message


@pytest.mark.parametrize("config", [
    "[" * 100_000, '{"dynamic_batching": {"max_queue_delay_microseconds": Infinity}}',
    '{"dynamic_batching": {"max_queue_delay_microseconds": "%s"}}' % ("9" * 5000),
    '{"max_batch_size": "x"}', '{"max_batch_size": 1e400}', '{"dynamic_batching": 5}',
    '{"instance_group": [{"count": [1]}]}', '{"dynamic_batching": {"preferred_batch_size": {}}}',
    "null", "not json"])
def test_a_load_config_of_any_shape_is_refused_clearly(door, config):
    """RepositoryModelLoad's `config` parameter is JSON from anyone who reaches the port."""
    triton, _, uid = door
    request = pb.RepositoryModelLoadRequest(model_name=uid)
    request.parameters["config"].string_param = config
    try:
        triton.RepositoryModelLoad(request, timeout=20)
    except grpc.RpcError as exc:
        assert exc.code() not in UNEXPECTED, f"{exc.code()}: {exc.details()}"
        assert len(exc.details()) < 300, exc.details()
    assert triton.ServerLive(pb.ServerLiveRequest(), timeout=10).live


def test_a_huge_model_name_is_named_in_a_short_message(door):
    triton, inference, _ = door
    huge = "m" * 100_000
    for call, request in [(triton.ModelMetadata, pb.ModelMetadataRequest(name=huge, version="1")),
                          (triton.ModelConfig, pb.ModelConfigRequest(name=huge)),
                          (triton.RepositoryModelUnload,
                           pb.RepositoryModelUnloadRequest(model_name=huge))]:
        with pytest.raises(grpc.RpcError) as caught:
            call(request, timeout=20)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert len(caught.value.details()) < 300, caught.value.details()[:100]
    reply = inference.LoadModels(kos.ModelUids(uids=[huge]), timeout=20)
    assert reply.result.error.message.startswith("NOT_FOUND")
    assert len(reply.result.error.message) < 300
