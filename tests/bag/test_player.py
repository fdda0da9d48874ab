"""The player on its own: remap, rate, restamp and loop, read by a plain SUB socket."""
from __future__ import annotations

import tempfile
import threading
import time

import numpy as np
import pytest
import zmq

from edge import bag
from edge.bag.play import Player, parse_remap
from edge.errors import InvalidArgument
from messages import StreamMessage

pytestmark = pytest.mark.timeout(30)


def _recording(path: str, count: int, interval_ns: int) -> None:
    with bag.write(path) as out:
        for n in range(count):
            out.add("cam/depth", np.full((2, 2), n, np.uint16), stamp_ns=5000 + n,
                    log_time_ns=10**18 + n * interval_ns, source="cam")


def _received(socket, count: int) -> list:
    got = []
    while len(got) < count and socket.poll(5000):
        frames = socket.recv_multipart()
        got.append(StreamMessage.from_frames(frames))
    return got


@pytest.mark.parametrize("restamp", [False, True])
def test_remap_rate_restamp_and_loop(tmp_path, restamp):
    path = str(tmp_path / "in.mcap")
    _recording(path, 4, 100_000_000)           # 4 messages, 100 ms apart
    directory = tempfile.mkdtemp(dir="/tmp", prefix="ebp")
    endpoint = f"ipc://{directory}/play.sock"
    player = Player({"depth": endpoint}, remap=parse_remap(["cam/depth:=depth"]), handle_signals=False)
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"depth")
    sub.connect(endpoint)
    try:
        assert player.wait_for_subscribers(1, 5.0) == []
        before_ns = time.time_ns()
        stopper = threading.Timer(0.6, player.stop)   # two passes take ~0.35 s at rate 2
        stopper.start()
        stats = player.play(lambda: bag.read_messages(path), rate=2.0, restamp=restamp, loop=True)
        stopper.join()
        got = _received(sub, 8)
    finally:
        sub.close(linger=0)
        player.close()
    assert stats.loops >= 1 and len(got) == 8
    messages = got
    assert {m.topic for m in messages} == {"depth"} and {m.source for m in messages} == {"cam"}
    assert [int(m.value[0, 0]) for m in messages] == [0, 1, 2, 3] * 2
    assert [m.seq for m in messages] == [1, 2, 3, 4] * 2
    if restamp:
        assert all(m.stamp_ns >= before_ns for m in messages)
    else:
        assert [m.stamp_ns for m in messages] == [5000, 5001, 5002, 5003] * 2
    gaps_ms = np.diff([m.pub_ns for m in messages]) / 1e6   # pub_ns: when the player sent it
    assert np.median(gaps_ms) == pytest.approx(50, abs=15)   # 100 ms recorded, played at 2x,
    #                                                          and one mean interval between passes


def test_remap_needs_old_and_new():
    assert parse_remap(["a:=b", "c/d:=e"]) == {"a": "b", "c/d": "e"}
    for bad in ("a=b", ":=b", "a:="):
        with pytest.raises(InvalidArgument):
            parse_remap([bad])


def test_big_messages_shrink_the_send_queue_to_its_byte_budget_and_none_is_lost(tmp_path):
    path = str(tmp_path / "big.mcap")
    with bag.write(path) as out:
        out.add("small", np.zeros(8, np.uint8), log_time_ns=10**18)
        for n in range(6):                                   # 1 MiB each
            out.add("big", np.full(1 << 20, n, np.uint8), log_time_ns=10**18 + (n + 1) * 10_000_000)
    directory = tempfile.mkdtemp(dir="/tmp", prefix="ebp")
    endpoint = f"ipc://{directory}/play.sock"
    player = Player({"small": endpoint, "big": endpoint}, queue_bytes=8 << 20, handle_signals=False)
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.RECONNECT_IVL, 10)
    for topic in (b"small", b"big"):
        sub.setsockopt(zmq.SUBSCRIBE, topic)
    sub.connect(endpoint)
    got = []
    reader = threading.Thread(target=lambda: got.extend(_received(sub, 7)))  # a live reader:
    try:                                  # a SUB re-subscribes when its owner uses the socket
        assert player.hwm == 128 and player.wait_for_subscribers(1, 5.0) == []   # 8 MiB / 64 KiB
        reader.start()
        stats = player.play(lambda: bag.read_messages(path))
        reader.join(timeout=15)
    finally:
        sub.close(linger=0)
        player.close()
    # 8 MiB / (1.25 x 1 MiB): room for all six even if the reader stalls, so any loss is the rebind's
    assert player.hwm == 6 and stats.messages == 7
    assert [m.topic for m in got] == ["small"] + ["big"] * 6, [(m.topic, int(m.value[0])) for m in got]
    assert [int(m.value[0]) for m in got[1:]] == list(range(6))
