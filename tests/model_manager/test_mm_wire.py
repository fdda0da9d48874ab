"""What a peer in another language sees: raw pyzmq REQ sockets, malformed requests,
and the model manager as a launched node type."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import msgpack
import numpy as np
import pytest
import zmq

from edge.config import NodeConfig
from edge.nodetype import load_node_type
from messages import ReplyMessage, RequestMessage, new_encoder
from nodes.model_manager.client import ModelManagerClient
from nodes.model_manager.node import ModelManagerNode

pytestmark = pytest.mark.timeout(60)

WAIT_MS = 10_000
ONES = np.ones((2, 3), np.float32)


@pytest.fixture
def req(server):
    context = zmq.Context.instance()
    socket = context.socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(server.endpoint)
    yield socket
    socket.close(linger=0)


def exchange(socket: zmq.Socket, frames: list) -> ReplyMessage:
    socket.send_multipart(frames)
    assert socket.poll(WAIT_MS), "no reply"
    return ReplyMessage.from_frames(socket.recv_multipart(copy=False))


def request(method: str, body, request_id=1, **header) -> list:
    return RequestMessage(request_id, method, body, **header).to_frames(new_encoder())


def header_only(header: dict) -> list:
    return [msgpack.packb({"v": 1, "id": 3, **header})]


def uint8_ref(index: int, dtype: str, shape: list) -> msgpack.ExtType:
    return msgpack.ExtType(1, msgpack.packb([index, dtype, shape]))


MALFORMED = [
    ([b"\xc1 not msgpack"], "malformed"),
    (header_only({"v": 99, "method": "live"}), "version"),
    (header_only({"method": 5}), "method"),
    ([msgpack.packb({"v": 1, "id": 3, "method": "forward",
                     "body": {"inputs": {"a": uint8_ref(0, "|O", [1])}}}), b"x" * 8], "dtype"),
    ([msgpack.packb({"v": 1, "id": 3, "method": "forward",
                     "body": {"inputs": {"a": uint8_ref(2, "<f4", [2])}}})], "out of range"),
    ([msgpack.packb({"v": 1, "id": 3, "method": "forward",
                     "body": {"inputs": {"a": uint8_ref(0, "<f4", [4])}}}), b"x" * 3], "bytes"),
    ([msgpack.packb({"v": 1, "id": 3, "method": "forward", "body": {1: 2}})], "malformed"),
]


@pytest.mark.parametrize("frames, word", MALFORMED)
def test_malformed_requests_are_answered_and_the_server_keeps_serving(req, frames, word):
    reply = exchange(req, frames)
    assert not reply.ok and reply.error["code"] == "INVALID_ARGUMENT"
    assert word in reply.error["message"]
    assert exchange(req, request("live", None, 2)).body == {"live": True}


@pytest.mark.parametrize("method, body, word", [
    ("forward", "not a map", "map body"),
    ("forward", {"uid": 5, "inputs": {}}, "'uid' must be a string"),
    ("forward", {"uid": "0" * 64, "inputs": [1, 2]}, "NOT_FOUND"),
    ("load_models", {"uids": "abc"}, "'uids' must be a list"),
    ("load_models", {}, "'uids' must be a list"),
    ("upload_model", {"model_data": "text"}, "'model_data' must be bytes"),
    ("upload_model", {"model_data": np.zeros(4, np.float32)}, "1-D uint8"),
    ("upload.begin", {"total_bytes": -1, "sha256": "0" * 64}, "total_bytes"),
    ("upload.begin", {"total_bytes": 10, "sha256": "xyz"}, "sha256"),
    ("upload.chunk", {"upload_id": 5, "offset": 0, "data": b""}, "NOT_FOUND"),
    ("async_request", {"uid": "0" * 64, "inputs": {}, "timeout_ms": -5}, "timeout_ms"),
    ("no_such_method", {}, "UNIMPLEMENTED"),
])
def test_bad_bodies_get_error_replies(req, method, body, word):
    reply = exchange(req, request(method, body))
    assert not reply.ok and reply.id == 1
    assert word in f"{reply.error['code']}: {reply.error['message']}"
    if "NOT_FOUND" not in word and "UNIMPLEMENTED" not in word:
        assert reply.error["code"] == "INVALID_ARGUMENT"


def test_a_plain_req_peer_runs_a_model(req, add_matmul_bytes):
    reply = exchange(req, request("upload_model", {"model_data": add_matmul_bytes,
                                                   "metadata": {"name": "am"}}, 10))
    uid = reply.body["uid"]
    assert exchange(req, request("load_models", {"uids": [uid]}, 11)).body == {"loaded": [uid]}
    reply = exchange(req, request("forward", {"uid": uid, "inputs": {"a": ONES, "b": ONES}}, 12,
                                  priority=3, timeout_ms=5000))
    assert reply.ok and reply.id == 12 and reply.body["request_id"] == "12"
    np.testing.assert_array_equal(reply.body["outputs"]["sum"], 2 * ONES)
    reply = exchange(req, request("get_models_info", None, 13))
    assert reply.body["models"][0]["metadata"]["name"] == "am"
    assert reply.body["models"][0]["input_specs"][0]["shape"][0] == {
        "size": None, "name": "batch", "dynamic": True}


def node_env(tmp_path, **parameters) -> dict:
    config = NodeConfig(name="models", type="model_manager", service=f"ipc://{tmp_path}/svc.sock",
                        parameters={"repo": str(tmp_path / "repo"), **parameters})
    return {**os.environ, "EDGE_NODE_CONFIG": config.to_json()}


def wait_live(endpoint: str) -> ModelManagerClient:
    client = ModelManagerClient(endpoint, timeout_s=5.0)
    deadline = time.monotonic() + 30
    while not client.is_server_live(timeout_s=0.5):
        assert time.monotonic() < deadline, "node never answered"
    return client


def test_node_type_is_registered_with_checked_parameters():
    assert load_node_type("model_manager") is ModelManagerNode
    _, problems = ModelManagerNode.resolve_parameters({"workers": "two", "colour": 1})
    assert any("workers" in p for p in problems) and any("colour" in p for p in problems)


@pytest.mark.parametrize("own_endpoint", [False, True])
def test_launched_node_serves_on_its_service_or_own_endpoint(tmp_path, add_matmul_bytes,
                                                             own_endpoint):
    extra = {"endpoint": f"ipc://{tmp_path}/mm.sock"} if own_endpoint else {}
    proc = subprocess.Popen([sys.executable, "-m", "edge.run"], env=node_env(tmp_path, **extra),
                            stderr=open(tmp_path / "node.log", "wb"))
    try:
        client = wait_live(extra.get("endpoint") or f"ipc://{tmp_path}/svc.sock")
        with client:
            uid = client.upload_model(add_matmul_bytes)
            client.load_models([uid])
            np.testing.assert_array_equal(client.forward(uid, {"a": ONES, "b": ONES})["sum"],
                                          2 * ONES)
            if not own_endpoint:  # the node's own methods answer on the same socket
                assert client.call("param.get", {"key": "workers"}) >= 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(15)
    assert json.loads((tmp_path / "repo" / "loaded.json").read_text())["models"].keys() == {uid}
