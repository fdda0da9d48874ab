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
