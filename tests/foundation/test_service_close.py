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


class HeldCall:
    """A `later` method that defers and holds its request, and a client calling it from a
    thread of its own: `held` the Responder, `result` the reply (or the error raised)."""

    def __init__(self, add_method):
        self.held, self.got, self.result = [], threading.Event(), []
        add_method("later", self._later)

    def _later(self, request) -> None:
        self.held.append(request.defer())
        self.got.set()

    def start(self, endpoint: str) -> None:
        self._caller = threading.Thread(target=lambda: self.result.append(_call(endpoint)))
        self._caller.start()

    def join(self) -> None:
        self._caller.join(WAIT_S)


def _call(endpoint: str):
    with Client(endpoint, timeout_s=WAIT_S, retries=0) as client:
        try:
            return client.call("later")
        except Exception as exc:  # handed to the test thread
            return exc


@pytest.mark.timeout(60)
def test_a_threaded_service_closing_sends_replies_posted_meanwhile(short_dir):
    service = Service(f"ipc://{short_dir}/posted.sock").start()
    call = HeldCall(service.add)
    call.start(service.endpoint)
    assert call.got.wait(WAIT_S)
    service.close()
    call.join()
    assert isinstance(call.result[0], Unavailable)
    assert not isinstance(call.result[0], ServiceTimeout)  # main: no answer, the client gave up


@pytest.mark.timeout(60)
def test_node_close_flushes_replies_posted_before_it(short_dir):
    node = Node("closing", endpoint=f"ipc://{short_dir}/closing-pub.sock", handle_signals=False)
    node.config.service = f"ipc://{short_dir}/closing.sock"
    call = HeldCall(node.serve)
    call.start(node.service_endpoint)
    try:
        deadline = time.monotonic() + WAIT_S
        while not call.got.is_set() and time.monotonic() < deadline:
            node.next_event(timeout_s=0.1)
        assert call.got.is_set()
        call.held[0].reply("answered just before close")  # posted; the loop never runs again
    finally:
        node.close()
    call.join()
    assert call.result == ["answered just before close"]  # main: ServiceTimeout
