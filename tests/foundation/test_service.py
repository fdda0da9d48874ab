"""Services keep serving through failures; clients never hang."""
import threading

import msgpack
import numpy as np
import pytest
import zmq

from edge import Client, InvalidArgument, Service, ServiceTimeout, Unimplemented
from edge.errors import EdgeError, Internal
from messages.codec import DEFAULT_LIMITS


@pytest.fixture
def service_endpoint(spawn, short_dir):
    endpoint = f"ipc://{short_dir}/svc.sock"
    proc = spawn("serve", endpoint, stdout=-1, text=True)
    assert proc.stdout.readline().strip() == "serving"
    return endpoint


def raw_request(socket, header, *buffers):
    socket.send_multipart([msgpack.packb(header), *buffers])
    assert socket.poll(5000), "no reply"
    return msgpack.unpackb(socket.recv_multipart()[0])


@pytest.mark.timeout(60)
def test_handler_exception_is_internal_and_service_keeps_serving(service_endpoint):
    with Client(service_endpoint, timeout_s=5) as client:
        with pytest.raises(Internal, match="ZeroDivisionError: division by zero"):
            client.call("fail")
        with pytest.raises(Unimplemented, match="unknown method 'nope'"):
            client.call("nope")
        value = {"a": np.arange(6, dtype=">i2").reshape(2, 3), "s": "text"}
        reply = client.call("echo", value)
        assert reply["s"] == "text" and np.array_equal(reply["a"], value["a"])


@pytest.mark.timeout(120)
def test_thousand_malformed_requests_then_a_correct_answer(service_endpoint):
    socket = zmq.Context.instance().socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(service_endpoint)
    bad = [b"", b"\xc1", msgpack.packb([1, 2]), msgpack.packb({"v": 7, "id": 1, "method": "echo"}),
           msgpack.packb({"v": 1, "id": 1}), msgpack.packb({"v": 1, "id": 2, "method": 3})]
    try:
        for i in range(1000):
            socket.send_multipart([bad[i % len(bad)]])
            assert socket.poll(5000)
            reply = msgpack.unpackb(socket.recv())
            assert reply["ok"] is False and reply["error"]["code"] == "INVALID_ARGUMENT"
        reply = raw_request(socket, {"v": 1, "id": 99, "method": "echo", "body": [1, "two"]})
        assert reply == {"v": 1, "id": 99, "ok": True, "body": [1, "two"]}
    finally:
        socket.close()


@pytest.mark.timeout(30)
def test_plain_req_socket_can_call_with_arrays(service_endpoint):
    socket = zmq.Context.instance().socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(service_endpoint)
    try:
        ref = msgpack.ExtType(1, msgpack.packb([0, "<f4", [2]]))
        socket.send_multipart([msgpack.packb({"v": 1, "id": "x", "method": "echo", "body": ref}),
                               np.array([1.5, 2.5], "<f4").tobytes()])
        assert socket.poll(5000)
        [header] = socket.recv_multipart()  # a small array comes back inside the header
        reply = msgpack.unpackb(header, ext_hook=lambda code, data: (code, data))
        assert reply["ok"]
        code, data = reply["body"]
        assert code == 2 and msgpack.unpackb(data[1:1 + data[0]]) == ["<f4", [2]]
        assert np.frombuffer(data[1 + data[0]:], "<f4").tolist() == [1.5, 2.5]
        big = np.arange(2048, dtype="<f4")  # 8 KiB: more than INLINE_MAX_BYTES, its own frame
        socket.send_multipart([msgpack.packb({"v": 1, "id": "y", "method": "echo", "body": ref_to(
            big)}), big.tobytes()])
        assert socket.poll(5000)
        header, buffer = socket.recv_multipart()
        reply = msgpack.unpackb(header, ext_hook=lambda code, data: msgpack.unpackb(data))
        assert reply["ok"] and reply["body"] == [0, "<f4", [2048]]
        assert np.array_equal(np.frombuffer(buffer, "<f4"), big)
    finally:
        socket.close()


def ref_to(array: np.ndarray) -> msgpack.ExtType:
    """ExtType 1 for `array` as the first buffer frame after the header."""
    return msgpack.ExtType(1, msgpack.packb([0, array.dtype.str, list(array.shape)]))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("retries", [0, 2])
def test_client_to_dead_service_times_out_within_bound(short_dir, retries):
    client = Client(f"ipc://{short_dir}/nobody.sock", timeout_s=0.3, retries=retries)
    with pytest.raises(ServiceTimeout, match=f"after {retries + 1} attempt"):
        client.call("ping")   # how long that took is the timeout benchmark's business
    client.close()


@pytest.mark.timeout(30)
def test_client_to_silent_service_times_out(service_endpoint):
    with Client(service_endpoint, timeout_s=0.3, retries=1) as client:
        with pytest.raises(ServiceTimeout, match="after 2 attempt"):
            client.call("sleep", 1.0)
        # The service answers in order, so the stale replies of the gave-up attempts come
        # before this one: they are discarded, and the next call gets its own answer.
        assert client.call("echo", 5, timeout_s=5) == 5


@pytest.mark.timeout(30)
def test_retried_request_runs_once_and_deferred_replies_come_from_other_threads(short_dir):
    calls = []

    def slow_count(request):
        calls.append(request.id)
        responder = request.defer()
        threading.Timer(0.5, responder.reply, args=[len(calls)]).start()

    service = Service(f"ipc://{short_dir}/dedupe.sock").start()
    service.add("count", slow_count)
    try:
        with Client(service.endpoint, timeout_s=0.2, retries=5) as client:
            assert client.call("count") == 1  # retried after 0.2 s, answered once after 0.5 s
        assert len(calls) == 1
    finally:
        service.close()


@pytest.mark.timeout(30)
def test_expired_request_is_not_run(short_dir):
    ran = []
    service = Service(f"ipc://{short_dir}/deadline.sock")
    service.add("work", lambda request: ran.append(1))
    try:
        socket = zmq.Context.instance().socket(zmq.REQ)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(service.endpoint)
        # The deadline counts from arrival (clocks need not agree), so 0 ms has passed on dispatch.
        socket.send(msgpack.packb({"v": 1, "id": 1, "method": "work", "timeout_ms": 0}))
        assert service.socket.poll(2000)
        service.process()
        assert socket.poll(2000)
        reply = msgpack.unpackb(socket.recv())
        assert reply["error"]["code"] == "DEADLINE_EXCEEDED" and ran == []
        socket.close()
    finally:
        service.close()


def test_errors_map_to_one_hierarchy():
    from edge.errors import error_from_wire

    assert isinstance(error_from_wire({"code": "INVALID_ARGUMENT", "message": "m"}), InvalidArgument)
    unknown = error_from_wire({"code": "TEAPOT", "message": "m"})
    assert type(unknown) is EdgeError and unknown.code == "TEAPOT"
    assert issubclass(ServiceTimeout, TimeoutError)


@pytest.mark.timeout(30)
def test_undecodable_reply_is_an_error_not_a_timeout(short_dir):
    service = Service(f"ipc://{short_dir}/intkeys.sock").start()
    service.add("int_keys", lambda request: {1: "one"})  # msgpack allows it; our decoder does not
    try:
        with Client(service.endpoint, timeout_s=2, retries=0) as client:
            with pytest.raises(Internal, match="could not be decoded"):   # not ServiceTimeout
                client.call("int_keys")
    finally:
        service.close()


@pytest.mark.timeout(30)
def test_small_arrays_go_inline_unless_that_makes_the_header_too_big(short_dir):
    small = DEFAULT_LIMITS.replace(max_header_bytes=2048)
    arrays = [np.full(400, index, np.float32) for index in range(3)]  # 1600 B each: inline
    service = Service(f"ipc://{short_dir}/inline.sock", limits=small).start()
    service.add("frames", lambda request: [len(request.body), request.body[2].tolist()[:2]])
    try:
        with Client(service.endpoint, timeout_s=5, retries=0) as client:  # 8 MiB headers
            with pytest.raises(InvalidArgument, match="malformed request"):
                client.call("frames", arrays)  # inline: a 4.8 kB header, over the limit
        with Client(service.endpoint, timeout_s=5, retries=0, limits=small) as client:
            assert client.call("frames", arrays) == [3, [2.0, 2.0]]  # sent as frames instead
    finally:
        service.close()


def test_an_error_message_is_one_bounded_line_on_both_sides(short_dir):
    """A handler that quotes a peer's 1 MB value in its error, or a server that sends one,
    gives the caller at most MAX_MESSAGE_CHARS of it."""
    from edge.errors import MAX_MESSAGE_CHARS, error_from_wire

    def refuse(request):
        raise InvalidArgument(f"bad value {request.body!r}")

    service = Service(f"ipc://{short_dir}/long.sock", name="long")
    service.add("echo_error", refuse)
    service.start()
    try:
        with Client(service.endpoint, timeout_s=5, retries=0) as client:
            with pytest.raises(InvalidArgument) as caught:
                client.call("echo_error", "x" * (1 << 20))
        message = caught.value.message
        assert len(message) == MAX_MESSAGE_CHARS and message.endswith("...")
    finally:
        service.close()
    received = error_from_wire({"code": "NOT_FOUND", "message": "y" * (1 << 20)})
    assert len(received.message) == MAX_MESSAGE_CHARS
