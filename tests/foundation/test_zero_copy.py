"""Sending makes no copy of a C-contiguous array; decoding returns a view on the frame."""
import tracemalloc

import numpy as np
import zmq

from edge.bus import Publisher
from edge.inputs import Input
from messages import StreamMessage, new_encoder


def test_encoded_frame_is_the_array_memory():
    array = np.arange(1_000_000, dtype=np.float32).reshape(1000, 1000)
    frames = StreamMessage("t", array).to_frames(new_encoder())
    assert np.shares_memory(frames[2], array)


def test_decoded_array_is_a_read_only_view_on_the_received_frame():
    context = zmq.Context.instance()
    publisher = Publisher(context, "inproc://zero-copy-view", source="test")
    source = Input(context, "in", "t", "inproc://zero-copy-view", queue_size=10)
    try:
        sent = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)
        while not source.socket.poll(10):
            publisher.send("t", sent)
        source.drain()
        frames = source.queue[-1]
        message = source.pop()
        frame_memory = np.frombuffer(frames[2].buffer, np.uint8)
        assert np.shares_memory(message.value, frame_memory)
        assert not message.value.flags.writeable
        assert np.array_equal(message.value, sent)
        # inproc hands the frame over without copying, so the receiver sees the sender's memory.
        assert np.shares_memory(message.value, sent)
    finally:
        publisher.close()
        source.close()


def test_publishing_a_large_array_allocates_no_copy_in_python():
    context = zmq.Context.instance()
    publisher = Publisher(context, "inproc://zero-copy-alloc", source="test")
    sink = context.socket(zmq.SUB)
    sink.setsockopt(zmq.SUBSCRIBE, b"")
    sink.connect("inproc://zero-copy-alloc")
    array = np.ones(64 << 20, np.uint8)  # 64 MiB
    try:
        publisher.send("t", np.zeros(1))
        tracemalloc.start()
        publisher.send("t", array)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 1 << 20, f"publishing 64 MiB allocated {peak} bytes in Python"
    finally:
        publisher.close()
        sink.close(linger=0)
