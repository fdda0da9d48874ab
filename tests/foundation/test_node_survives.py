"""A node survives anything a peer sends, and its memory is bounded in bytes."""
import logging
import time

import msgpack
import numpy as np
import pytest
import zmq

from edge import Node
from edge.bus import Publisher
from edge.inputs import Input


def header(**changes):
    value = {"v": 1, "type": "", "seq": 1, "stamp_ns": 1, "pub_ns": time.time_ns(), "src": "evil",
             "body": None}
    value.update(changes)
    return msgpack.packb(value)


CONNECT_S = 30.0  # a guard: connect() returns as soon as the node reads


@pytest.fixture
def raw_pub(short_dir):
    context = zmq.Context.instance()
    socket = context.socket(zmq.PUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.SNDHWM, 0)  # the attacker queues everything
    endpoint = f"ipc://{short_dir}/raw.sock"
    socket.bind(endpoint)
    yield socket, endpoint
    socket.close(0)


def connect(socket, node, topic=b"t") -> dict:
    """Send hellos until the node receives one, then a marker, and read up to the marker:
    hellos still in flight never reach the test. Returns the input's stats at that point."""
    deadline = time.monotonic() + CONNECT_S
    while True:
        assert time.monotonic() < deadline, "never connected"
        socket.send_multipart([topic, header(seq=1, body="hello")])
        if node.next_event(timeout_s=0.02) is not None:
            break
    socket.send_multipart([topic, header(seq=1, body="marker")])
    while (event := node.next_event(timeout_s=max(0.0, deadline - time.monotonic()))) is not None:
        if event.value == "marker":
            return dict(node.stats()["inputs"][topic.decode()])
    raise AssertionError("the marker never arrived")


@pytest.mark.timeout(30)
def test_bad_messages_are_counted_rate_limited_and_never_stop_the_node(raw_pub, caplog):
    socket, endpoint = raw_pub
    with Node("victim", handle_signals=False) as node:
        node.subscribe("t", endpoint=endpoint, queue_size=100_000)
        before = connect(socket, node)
        bad_spec = header(type="TensorSpec", body={"name": "x", "dtype": ","})
        offset = header(type="TensorSpec", body={"name": "x", "dtype": {
            "names": ["a"], "formats": ["<f4"], "offsets": [2**63]}})
        with caplog.at_level(logging.WARNING, logger="edge.bus"):
            for i in range(10_000):
                socket.send_multipart([b"t", [b"\xc1", bad_spec, offset][i % 3]])
            socket.send_multipart([b"t", header(seq=2, body="still alive")])
            event = node.next_event(timeout_s=10)
        assert event is not None and event.value == "still alive"
        stats = {key: value - before.get(key, 0) for key, value in node.stats()["inputs"]["t"].items()
                 if isinstance(value, int)}
        # The queue keeps what fits its byte budget (about 1000 small messages); the rest drains.
        assert stats["decode_errors"] + stats["drained"] == 10_000 and stats["received"] == 1
        assert stats["decode_errors"] >= 1000
        assert len([r for r in caplog.records if r.name == "edge.bus"]) < 10


@pytest.mark.timeout(30)
@pytest.mark.parametrize("seq", [2**63 - 1, 2**63, 2**64 - 1])
def test_forged_sequence_numbers_keep_stats_encodable(raw_pub, seq):
    socket, endpoint = raw_pub
    with Node("victim", handle_signals=False) as node:
        node.subscribe("t", endpoint=endpoint, queue_size=100)
        connect(socket, node)
        for forged in (seq, 2, seq, 3):
            socket.send_multipart([b"t", header(seq=forged)])
        socket.send_multipart([b"t", header(seq=4, body="end")])
        values = []
        while not values or values[-1] != "end":
            event = node.next_event(timeout_s=CONNECT_S)
            assert event is not None, f"the forged messages did not all arrive: {values}"
            values.append(event.value)
        assert values == [None] * (4 if seq < 2**63 else 2) + ["end"]  # >= 2**63: malformed
        stats = node.stats()
        msgpack.packb(stats)  # what the stats request sends back
        assert stats["inputs"]["t"]["dropped"] < 2**32


@pytest.mark.timeout(30)
def test_failing_callbacks_are_counted_and_the_node_keeps_spinning(raw_pub):
    socket, endpoint = raw_pub
    node = Node("victim", handle_signals=False)
    try:
        node.subscribe("t", endpoint=endpoint, queue_size=100)
        connect(socket, node)
        seen = []

        def handler(event):
            seen.append(event.value)
            if event.value == "boom":
                raise RuntimeError("handler bug")
            if event.value == "last":
                node.stop()

        node.on("t", handler)
        for value in ("boom", "boom", "last"):
            socket.send_multipart([b"t", header(body=value)])
        thread_error = []
        node.timer("tick", 5.0)
        node.spin()
        assert seen == ["boom", "boom", "last"] and not thread_error
        assert node.stats()["inputs"]["t"]["handler_errors"] == 2
    finally:
        node.close()


def test_inputs_refuse_oversized_frames_in_the_socket():
    context = zmq.Context.instance()
    source = Input(context, "in", "t", "inproc://maxmsgsize", queue_size=1)
    try:
        assert source.socket.getsockopt(zmq.MAXMSGSIZE) == 64 << 20
    finally:
        source.close()


def _joined(publisher: Publisher, source: Input, small: int) -> None:
    """Send `small` small messages until the input has them all (it may join late)."""
    deadline = time.monotonic() + CONNECT_S
    while time.monotonic() < deadline:
        publisher.send("t", b"hello")
        source.drain()
        if len(source.queue) >= small:
            source.queue.clear()
            return
        time.sleep(0.01)
    raise AssertionError("the input never received a message")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("small", [0, 40], ids=["first-message-big", "after-40-small"])
def test_a_stalled_subscriber_holds_a_bounded_number_of_bytes(short_dir, small):
    """Budget 4 MiB, 256 KiB messages: both sides' HWMs shrink to ~12 after the first one,
    in place when it comes first, on new pipes after 40 small ones (edge.bus.lowers_in_place)."""
    context = zmq.Context.instance()
    endpoint = f"ipc://{short_dir}/stall.sock"
    publisher = Publisher(context, endpoint, source="p", queue_bytes=4 << 20)
    source = Input(context, "in", "t", endpoint, queue_size=10_000, queue_bytes=4 << 20)
    try:
        if small:
            _joined(publisher, source, small)
            for _ in range(small):
                publisher.send("t", b"x")
        frame = np.zeros(256 << 10, np.uint8)
        for _ in range(200):
            publisher.send("t", frame)
            source.drain()
            if any(len(frames[-1]) > 1000 for frames in source.queue):
                break
            time.sleep(0.01)
        assert publisher.hwm <= 16 and source.hwm <= 16
        time.sleep(0.3)  # where pipes were re-created, both sides have rebuilt them
        for _ in range(300):  # the subscriber does not read meanwhile
            publisher.send("t", frame)
        time.sleep(0.5)
        source.drain()
        held = sum(len(f) for frames in source.queue for f in frames)
        assert len(source.queue) <= 40 + small and held <= 3 * (4 << 20)
    finally:
        publisher.close()
        source.close()


@pytest.mark.timeout(30)
def test_the_first_big_message_lowers_both_hwms_in_place_and_none_is_lost(short_dir):
    """Re-created pipes lose what is sent while peers reconnect; in place, nothing is."""
    context = zmq.Context.instance()
    endpoint = f"ipc://{short_dir}/inplace.sock"
    publisher = Publisher(context, endpoint, source="p", queue_bytes=4 << 20)
    source = Input(context, "in", "t", endpoint, queue_size=10_000, queue_bytes=4 << 20)
    try:
        _joined(publisher, source, 1)
        socket, first = publisher.socket, publisher.published["t"] + 1
        frame = np.zeros(256 << 10, np.uint8)
        seqs = []
        for _ in range(30):
            publisher.send("t", frame)
            time.sleep(0.002)
            source.drain()
            while (message := source.pop()) is not None:
                seqs.append(message.seq)
        deadline = time.monotonic() + 5
        while (not seqs or seqs[-1] < first + 29) and time.monotonic() < deadline:
            source.drain()
            while (message := source.pop()) is not None:
                seqs.append(message.seq)
            time.sleep(0.01)
        assert publisher.hwm <= 16 and source.hwm <= 16 and publisher.socket is socket
        assert [seq for seq in seqs if seq >= first] == list(range(first, first + 30))
    finally:
        publisher.close()
        source.close()


@pytest.mark.timeout(30)
def test_latest_only_skips_a_stale_backlog_and_hands_over_a_fresh_frame(raw_pub):
    """What a reader finds after a stall: pipes full of old messages (the newest dropped by
    the full pipes). Here the backlog is sent with old pub_ns; bench_stall.py does it live."""
    socket, endpoint = raw_pub
    with Node("reader", handle_signals=False) as node:
        node.subscribe("cam", endpoint=endpoint)
        before = connect(socket, node, b"cam")
        old_ns = time.time_ns() - 3_000_000_000
        for seq in range(2, 102):
            socket.send_multipart([b"cam", header(seq=seq, pub_ns=old_ns)])

        def counted(key: str) -> int:
            return node.stats()["inputs"]["cam"][key] - before[key]

        deadline = time.monotonic() + CONNECT_S
        while counted("dropped") < 100:  # until the node has read the whole backlog
            assert time.monotonic() < deadline, f"only {counted('dropped')} of 100 arrived"
            old = node.next_event(timeout_s=0.1)
            assert old is None, f"handed over a frame {(time.time_ns() - old.pub_ns) / 1e9:.1f} s old"
        socket.send_multipart([b"cam", header(seq=102, pub_ns=time.time_ns())])
        event = node.next_event(timeout_s=CONNECT_S)
        assert event.seq == 102 and time.time_ns() - event.pub_ns < 1_000_000_000
        assert counted("stale") >= 1 and counted("dropped") == 100 and counted("received") == 1


def test_services_and_clients_refuse_oversized_frames_in_the_socket(short_dir):
    from edge import Client, Service
    from messages import Limits
    from messages.codec import CONTROL_LIMITS

    service = Service(f"ipc://{short_dir}/svc.sock", limits=CONTROL_LIMITS)
    client = Client(service.endpoint, limits=Limits(max_total_bytes=1 << 20))
    try:
        assert service.socket.getsockopt(zmq.MAXMSGSIZE) == 256 << 10
        assert client._connected().getsockopt(zmq.MAXMSGSIZE) == 8 << 20  # the header limit
    finally:
        client.close()
        service.close()


@pytest.mark.timeout(30)
def test_a_malformed_or_oversized_trail_is_counted_and_the_node_goes_on(raw_pub):
    socket, endpoint = raw_pub
    with Node("victim", handle_signals=False) as node:
        node.subscribe("t", endpoint=endpoint, queue_size=100)
        connect(socket, node)
        bad = [header(seq=2, trail="x"), header(seq=3, trail=[["a", 1]]),
               header(seq=4, trail=[["a", 1, 2]] * 33), header(seq=5, trail=[["a" * 300, 1, 2]]),
               header(seq=6, trail=[["a", 1, 2]] * 100_000)]   # over the header's item limit
        for frame in bad:
            socket.send_multipart([b"t", frame])
        socket.send_multipart([b"t", header(seq=7, body="alive", trail=[["a", 1, 2]])])
        event = node.next_event(timeout_s=10)
        assert event.value == "alive" and event.trail == [["a", 1, 2]]
        assert node.stats()["inputs"]["t"]["decode_errors"] == len(bad)
