"""The record body layout: length-prefixed frames, and what a hostile body gets."""
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from edge import bag
from edge.bag.layout import pack_frames, rewrite_header, unpack_frames
from messages import DecodeError, StreamMessage, new_encoder


def test_frames_round_trip_byte_for_byte():
    frames = [b"header", b"", bytes(range(256)) * 3, np.arange(7, dtype="<u2").view(np.uint8)]
    body = pack_frames(frames)
    assert body[:4] == struct.pack("<I", 4)
    assert [bytes(f) for f in unpack_frames(body)] == [bytes(memoryview(f)) for f in frames]
    assert all(f.readonly for f in unpack_frames(body))


@pytest.mark.parametrize("body, words", [
    (b"", "too short"),
    (struct.pack("<I", 0), "0 frames"),
    (struct.pack("<I", 10**6), "frames"),
    (struct.pack("<I", 1) + b"\x01", "inside the length"),
    (struct.pack("<IQ", 1, 100) + b"abc", "claims 100 bytes"),
    (struct.pack("<IQ", 1, 1) + b"ab", "trailing"),
])
def test_malformed_bodies_raise_decode_error(body, words):
    with pytest.raises(DecodeError, match=words):
        unpack_frames(body)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_decode_or_raise_decode_error(body):
    try:
        unpack_frames(body)
    except DecodeError:
        pass


def test_rewrite_header_keeps_array_references():
    frames = StreamMessage("t", {"a": np.arange(6, dtype="<f4").reshape(2, 3)}, 5, 11, 12, "src").to_frames(new_encoder())
    header = rewrite_header(frames[1], pub_ns=99, stamp_ns=98)
    message = StreamMessage.from_frames([frames[0], header, *frames[2:]])
    assert (message.seq, message.stamp_ns, message.pub_ns, message.source) == (5, 98, 99, "src")
    assert np.array_equal(message.value["a"], np.arange(6, dtype="<f4").reshape(2, 3))
    with pytest.raises(DecodeError):
        rewrite_header(b"\xc1")


def test_info_counts_the_messages_that_carry_a_trail_in_either_header_version(tmp_path):
    path = str(tmp_path / "trails.mcap")
    hops = [["cam", 1, 2]]
    with bag.write(path) as out:
        for n, trail in enumerate([hops, None, hops]):
            out.add_message(StreamMessage("v2", np.arange(3), n + 1, 5, 6, "cam", trail), 10 + n)
        for n, trail in enumerate([hops, None]):
            frames = StreamMessage("v1", {"x": np.arange(3)}, n + 1, 5, 6, "cam", trail).to_frames_v1(new_encoder())
            out.add_frames(frames, 20 + n)
    topics = {t["topic"]: t for t in bag.info(path)["topics"]}
    assert (topics["v2"]["trails"], topics["v1"]["trails"]) == (2, 1)
    assert (topics["v2"]["count"], topics["v1"]["count"]) == (3, 2)
