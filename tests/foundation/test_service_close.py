"""Closing a service or a node answers what is owed and never writes to a closed fd."""
import os
import threading
import time

import msgpack
import pytest
import zmq

from edge import Client, Node, Service
from edge.errors import ServiceTimeout, Unavailable

WAIT_S = 20.0  # only a guard against a hang: every wait returns once its reply or request is in


def dealer(endpoint: str) -> zmq.Socket:
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    return socket


def send(socket: zmq.Socket, request_id, method: str) -> None:
    socket.send_multipart([b"", msgpack.packb({"v": 1, "id": request_id, "method": method})])


def receive(socket: zmq.Socket, timeout_ms: int = int(WAIT_S * 1000)):
    assert socket.poll(timeout_ms), "no reply"
    return msgpack.unpackb(socket.recv_multipart()[1])


@pytest.mark.timeout(60)
def test_a_deferred_reply_after_close_writes_to_no_file(short_dir):
    held = []
    service = Service(f"ipc://{short_dir}/late.sock")
    service.add("later", lambda request: held.append(request.defer()))
    socket = dealer(service.endpoint)
    try:
        send(socket, 1, "later")
        assert service.socket.poll(3000)
        service.process()
        service.close()
        reader, writer = os.pipe()  # most likely the wake pipe's old fd numbers
        os.set_blocking(reader, False)
        try:
            held[0].reply("too late")
            with pytest.raises(BlockingIOError):
                os.read(reader, 16)  # main: b"x", written into someone else's pipe
        finally:
            os.close(reader)
            os.close(writer)
    finally:
        socket.close()


@pytest.mark.timeout(60)
def test_close_answers_deferred_and_unread_requests_unavailable(short_dir):
    service = Service(f"ipc://{short_dir}/owed.sock")
    service.add("never", lambda request: request.defer())
    first, second = dealer(service.endpoint), dealer(service.endpoint)
    try:
        send(first, 1, "never")
        assert service.socket.poll(3000)
        service.process()  # deferred, never answered by its handler
        send(second, 2, "ping")
        assert service.socket.poll(3000)  # waiting, unread, when the service closes
        service.close()
        for socket, request_id in ((first, 1), (second, 2)):
            reply = receive(socket)
            assert reply["id"] == request_id and reply["error"]["code"] == "UNAVAILABLE"
    finally:
        first.close()
        second.close()


@pytest.mark.timeout(60)
def test_a_threaded_service_closing_sends_replies_posted_meanwhile(short_dir):
    service = Service(f"ipc://{short_dir}/posted.sock").start()
    got = threading.Event()
    held = []

    def later(request):
        held.append(request.defer())
        got.set()

    service.add("later", later)
    result: list = []
    caller = threading.Thread(target=lambda: result.append(_call(service.endpoint, "later")))
    caller.start()
    assert got.wait(WAIT_S)
    service.close()
    caller.join(WAIT_S)
    assert isinstance(result[0], Unavailable)
    assert not isinstance(result[0], ServiceTimeout)  # main: no answer, the client gave up


def _call(endpoint: str, method: str):
    with Client(endpoint, timeout_s=WAIT_S, retries=0) as client:
        try:
            return client.call(method)
        except Exception as exc:  # handed to the test thread
            return exc


@pytest.mark.timeout(60)
def test_node_close_flushes_replies_posted_before_it(short_dir):
    node = Node("closing", endpoint=f"ipc://{short_dir}/closing-pub.sock", handle_signals=False)
    node.config.service = f"ipc://{short_dir}/closing.sock"
    held, got = [], threading.Event()

    def later(request):
        held.append(request.defer())
        got.set()

    node.serve("later", later)
    result: list = []
    caller = threading.Thread(target=lambda: result.append(_call(node.service_endpoint, "later")))
    caller.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while not got.is_set() and time.monotonic() < deadline:
            node.next_event(timeout_s=0.1)
        assert got.is_set()
        held[0].reply("answered just before close")  # posted; the loop never runs again
    finally:
        node.close()
    caller.join(WAIT_S)
    assert result == ["answered just before close"]  # main: ServiceTimeout
