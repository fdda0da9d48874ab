"""The retry cache belongs to one peer: (routing identity, request id), bounded in bytes."""
import threading

import msgpack
import numpy as np
import pytest
import zmq

from edge import Client, Service


def dealer(endpoint: str, routing_id: bytes | None = None) -> zmq.Socket:
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    if routing_id is not None:
        socket.setsockopt(zmq.ROUTING_ID, routing_id)
    socket.connect(endpoint)
    return socket


def send(socket: zmq.Socket, request_id, method: str, body=None) -> None:
    socket.send_multipart([b"", msgpack.packb({"v": 1, "id": request_id, "method": method,
                                               "body": body})])


def receive(socket: zmq.Socket, timeout_ms: int = 3000):
    """The reply's header, or None when nothing arrives in time."""
    if not socket.poll(timeout_ms):
        return None
    return msgpack.unpackb(socket.recv_multipart()[1])


@pytest.fixture
def service(short_dir):
    service = Service(f"ipc://{short_dir}/peers.sock")
    yield service
    service.close()


@pytest.mark.timeout(30)
def test_a_second_peer_reusing_an_id_gets_its_own_reply(service):
    service.add("whoami", lambda request: request.body)
    service.start()
    first, second = dealer(service.endpoint), dealer(service.endpoint)
    try:
        send(first, "shared:1", "whoami", "first")
        assert receive(first)["body"] == "first"
        send(second, "shared:1", "whoami", "second")
        assert receive(second)["body"] == "second"  # main: "first" (the other peer's result)
        send(first, "shared:1", "whoami", "retry")
        assert receive(first)["body"] == "first"  # the same peer's retry: the cached reply
    finally:
        first.close()
        second.close()


@pytest.mark.timeout(30)
def test_peers_that_send_no_delimiter_are_still_told_apart(service):
    """Out of contract (a DEALER must send an empty frame first) but answered: such a
    peer's envelope is its routing frame alone, and that is its identity too."""
    service.add("whoami", lambda request: request.body)
    service.start()
    first, second = dealer(service.endpoint), dealer(service.endpoint)
    header = {"v": 1, "id": "1", "method": "whoami"}
    try:
        for socket, body in ((first, "first"), (second, "second")):
            socket.send(msgpack.packb({**header, "body": body}))
            assert socket.poll(3000)
            reply = socket.recv_multipart()
            assert len(reply) == 1  # no delimiter sent, none received
            assert msgpack.unpackb(reply[0])["body"] == body  # main: "first" for both
    finally:
        first.close()
        second.close()


@pytest.mark.timeout(30)
def test_a_reply_in_flight_reaches_only_the_peer_that_sent_it(service):
    waiting, arrived = [], threading.Semaphore(0)

    def later(request):
        waiting.append((request.defer(), request.body))
        arrived.release()

    service.add("later", later)
    service.start()
    first, second = dealer(service.endpoint), dealer(service.endpoint)
    try:
        send(first, "same", "later", "for first")
        assert arrived.acquire(timeout=5)
        send(second, "same", "later", "for second")
        assert arrived.acquire(timeout=5), "main: the second peer's request is taken for a retry"
        for responder, body in waiting:
            responder.reply(body)
        assert receive(first)["body"] == "for first"
        assert receive(second)["body"] == "for second"
        assert receive(first, 300) is None and receive(second, 300) is None
    finally:
        first.close()
        second.close()


@pytest.mark.timeout(30)
def test_a_client_retry_is_recognised_as_the_same_peer(service):
    ran = []

    def slow(request):
        ran.append(request.peer)
        threading.Timer(0.6, request.defer().reply, args=[len(ran)]).start()

    service.add("slow", slow)
    service.start()
    with Client(service.endpoint, timeout_s=0.25, retries=5) as client:
        assert client.call("slow") == 1
        assert client.call("slow") == 2
    assert len(ran) == 2 and ran[0] == ran[1]  # each call ran once, from one identity


@pytest.mark.timeout(30)
def test_a_peer_claiming_a_connected_peers_identity_gets_nothing(service):
    held, arrived = [], threading.Semaphore(0)

    def later(request):
        held.append(request.defer())
        arrived.release()

    service.add("later", later)
    service.start()
    victim = dealer(service.endpoint, b"victim")
    try:
        send(victim, "v:1", "later", None)
        assert arrived.acquire(timeout=5)
        thief = dealer(service.endpoint, b"victim")  # refused: the identity is taken
        try:
            send(thief, "v:1", "later", None)
            held[0].reply("for the victim")
            assert receive(victim)["body"] == "for the victim"
            assert receive(thief, 500) is None
        finally:
            thief.close()
    finally:
        victim.close()


@pytest.mark.timeout(30)
def test_the_reply_cache_is_bounded_in_bytes(short_dir):
    service = Service(f"ipc://{short_dir}/bounded.sock", reply_cache_bytes=4 << 20).start()
    service.add("blob", lambda request: np.full((1024, 1024), request.body, dtype=np.uint8))
    try:
        with Client(service.endpoint, timeout_s=5) as client:
            for value in range(12):
                assert client.call("blob", value)[0, 0] == value
        cached = service._replies.cached_bytes
        assert 1 << 20 < cached <= 4 << 20  # main counted a 2-D array as its row count
    finally:
        service.close()
