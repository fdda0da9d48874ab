"""The recorder on its own: seq gaps are counted as drops, malformed messages are not written."""
from __future__ import annotations

import tempfile

import numpy as np
import pytest
import zmq

from edge import bag
from edge.bag.record import Recorder
from messages import StreamMessage, new_encoder

pytestmark = pytest.mark.timeout(30)


def test_gaps_are_drops_and_bad_messages_are_counted(tmp_path):
    endpoint = f"ipc://{tempfile.mkdtemp(dir='/tmp', prefix='ebr')}/pub.sock"
    pub = zmq.Context.instance().socket(zmq.XPUB)
    pub.bind(endpoint)
    path = str(tmp_path / "gaps.mcap")
    writer = bag.write(path)
    recorder = Recorder(writer, {"t": endpoint}, handle_signals=False)
    try:
        assert pub.poll(5000) and pub.recv() == b"\x01t"      # the recorder subscribed
        encoder = new_encoder()
        for seq in (1, 2, 5, 6, 10):
            pub.send_multipart(StreamMessage("t", np.array([seq]), seq, seq, seq, "src").to_frames(encoder))
        pub.send_multipart([b"t", b"\xc1 not msgpack"])
        pub.send_multipart([b"tx", b"another topic with a matching prefix"])
        stats = recorder.run(duration_s=1.0)
    finally:
        recorder.close()
        writer.close()
        pub.close(linger=0)
    assert (stats.messages, stats.dropped, stats.decode_errors) == (5, 5, 1)
    assert [int(v[0]) for _, _, v in bag.read(path)] == [1, 2, 5, 6, 10]
    assert bag.info(path)["topics"][0]["seq_gaps"] == 5


def test_the_socket_is_bounded_in_bytes_and_what_it_cannot_hold_is_counted(tmp_path):
    endpoint = f"ipc://{tempfile.mkdtemp(dir='/tmp', prefix='ebr')}/big.sock"
    pub = zmq.Context.instance().socket(zmq.XPUB)
    pub.setsockopt(zmq.SNDHWM, 2)             # the publisher side holds little too
    pub.setsockopt(zmq.XPUB_VERBOSE, 1)       # every subscription, also the one after a reconnect
    pub.bind(endpoint)
    path = str(tmp_path / "big.mcap")
    writer = bag.write(path)
    recorder = Recorder(writer, {"t": endpoint}, queue_bytes=4 << 20, handle_signals=False)
    encoder, frame = new_encoder(), np.zeros(1 << 20, np.uint8)   # 1 MiB messages

    def send(seq):
        pub.send_multipart(StreamMessage("t", frame, seq, seq, seq, "src").to_frames(encoder))
    try:
        assert pub.poll(5000) and pub.recv() == b"\x01t"
        send(1)
        recorder.run(duration_s=0.5)           # sees the size: HWM 1000 -> 3, reconnects
        assert recorder._subscriptions[0].hwm == 3
        while pub.poll(5000) and pub.recv() != b"\x01t":   # subscribed again after reconnecting
            pass
        for seq in range(2, 61):               # the recorder does not read meanwhile
            send(seq)
        recorder.run(duration_s=0.5)
        send(61)
        stats = recorder.run(duration_s=0.5)
    finally:
        recorder.close()
        writer.close()
        pub.close(linger=0)
    assert stats.messages + stats.dropped == 61     # nothing lost silently
    assert 0 < stats.messages <= 1 + 3 + 2 + 8 and stats.dropped > 0, stats
    assert [m.seq for m in (item.message for item in bag.read_messages(path))][-1] == 61
