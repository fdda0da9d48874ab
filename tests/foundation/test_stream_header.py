"""The version 2 stream header (messages/stream.py, docs/PROTOCOL.md): round trips, the
version 1 form still read, each malformed header a DecodeError saying what."""
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from messages import DecodeError, Image, StreamMessage, new_encoder, new_stream_encoder, stream
from messages.codec import INLINE_MAX_BYTES, STREAM_LIMITS
from messages.stream import ARRAY, FIXED, OUT_OF_BAND, TRAIL

pytestmark = pytest.mark.timeout(60)
TRAIL_HOPS = [["cam", 10, 15], ["pre", 16, 20]]


def round_trip(message, encoder=None, to_bytes=True):
    frames = message.to_frames(encoder or new_stream_encoder())
    return StreamMessage.from_frames([bytes(f) for f in frames] if to_bytes else frames), frames


@pytest.mark.parametrize("value", [
    np.arange(12, dtype="<f4").reshape(3, 4), np.zeros((0, 3), ">i2"), np.array(5, np.int64),
    np.arange(20, dtype=np.uint8)[::2], np.zeros((48, 32, 3), np.uint8), np.ones(3, bool),
    {"a": np.arange(3), "b": [1, "x", None]}, 7, "text", None, Image(np.zeros((2, 2, 3), np.uint8))])
@pytest.mark.parametrize("trail", [None, TRAIL_HOPS])
def test_every_kind_of_value_round_trips_with_its_fields(value, trail):
    message = StreamMessage("cam/ä", value, 2**63 - 1, 123, 456, "node-ü", trail)
    got, _ = round_trip(message)
    assert (got.topic, got.seq, got.stamp_ns, got.pub_ns, got.source, got.trail) == (
        "cam/ä", 2**63 - 1, 123, 456, "node-ü", trail)
    if isinstance(value, np.ndarray):
        assert got.value.dtype == value.dtype and got.value.shape == value.shape
        assert (got.value == value).all() and not got.value.flags.writeable
    elif isinstance(value, Image):
        assert got.value.encoding == value.encoding and (got.value.data == value.data).all()
    elif isinstance(value, dict):
        assert got.value["b"] == value["b"] and (got.value["a"] == value["a"]).all()
    else:
        assert got.value == value


def test_a_bare_array_is_read_without_msgpack_inline_or_in_one_frame():
    small = np.arange(INLINE_MAX_BYTES, dtype=np.uint8)
    _, frames = round_trip(StreamMessage("t", small))
    assert len(frames) == 2 and frames[1][1] == ARRAY
    big = np.zeros(INLINE_MAX_BYTES + 1, np.uint8)
    got, frames = round_trip(StreamMessage("t", big), to_bytes=False)
    assert len(frames) == 3 and frames[1][1] == ARRAY | OUT_OF_BAND
    assert got.value.base is not None  # a view on the frame, not a copy


def test_version_1_headers_are_still_read():
    message = StreamMessage("t", {"a": np.arange(3)}, 4, 5, 6, "n", TRAIL_HOPS)
    frames = message.to_frames_v1(new_encoder())
    got = StreamMessage.from_frames(frames)
    assert (got.seq, got.stamp_ns, got.pub_ns, got.source, got.trail) == (4, 5, 6, "n", TRAIL_HOPS)


def test_the_worked_example_in_the_protocol_document():
    message = StreamMessage("cam/depth", np.array([[1, 2], [3, 4]], "<u2"), 7,
                            1700000000000000000, 1700000000000500000, "cam")
    frames = message.to_frames(new_stream_encoder())
    assert frames[1] == bytes.fromhex(
        "02 02 0000 0300 0700000000000000 00002a36fe9c9717 20a13136fe9c9717 63616d"
        " 03 3c7532 02 0200000000000000 0200000000000000 0100020003000400")


def header(flags=0, type_name=b"", source=b"n", seq=1, stamp=1, pub=1, rest=b""):
    return FIXED.pack(2, flags, len(type_name), len(source), seq, stamp, pub) + type_name + source + rest


def descriptor(dtype=b"|u1", shape=(4,)):
    return bytes([len(dtype)]) + dtype + bytes([len(shape)]) + struct.pack(f"<{len(shape)}Q", *shape)


CASES = {
    "empty header": ([b"t", b""], "neither version 1"),
    "unknown version": ([b"t", b"\x03" + bytes(40)], "neither version 1"),
    "short fixed part": ([b"t", header()[:20]], "shorter than its 30 fixed"),
    "unknown flag": ([b"t", header(flags=8)], "flags 0x08"),
    "out of band without array": ([b"t", header(flags=OUT_OF_BAND)], "flags 0x04"),
    "seq over 2**63": ([b"t", header(seq=2**63)], "must be in [0, 2**63)"),
    "pub_ns over 2**63": ([b"t", header(pub=2**64 - 1)], "must be in [0, 2**63)"),
    "src past the end": ([b"t", FIXED.pack(2, 0, 0, 50, 1, 1, 1) + b"n"], "ends inside its type"),
    "src not utf-8": ([b"t", header(source=b"\xff")], "not UTF-8"),
    "trail length past the end": ([b"t", header(flags=TRAIL, rest=b"\x01")], "trail length"),
    "trail past the end": ([b"t", header(flags=TRAIL, rest=b"\x09\x00\x00\x00\x91")], "claims 9"),
    "trail not hops": ([b"t", header(flags=TRAIL, rest=b"\x01\x00\x00\x00\x07\xc0")], "trail"),
    "dtype past the end": ([b"t", header(flags=ARRAY, rest=b"\x09<f")], "inside its array's dtype"),
    "shape past the end": ([b"t", header(flags=ARRAY, rest=b"\x03|u1\x02" + bytes(9))], "shape"),
    "object dtype": ([b"t", header(flags=ARRAY, rest=descriptor(b"|O") + bytes(32))], "not allowed"),
    "dtype not ascii": ([b"t", header(flags=ARRAY, rest=descriptor(b"\xff\xfe"))], "not ASCII"),
    "too many dims": ([b"t", header(flags=ARRAY, rest=descriptor(shape=(1,) * 33) + b"x")], "at most 32"),
    "dim over 2**63": ([b"t", header(flags=ARRAY, rest=descriptor(shape=(0, 2**64 - 1)))], "2**63-1"),
    "extent over intp": ([b"t", header(flags=ARRAY, rest=descriptor(b"<c8", (2, 0, 2**62)))],
                         "too large to index"),
    "inline size mismatch": ([b"t", header(flags=ARRAY, rest=descriptor() + b"abc")], "holds 3 bytes"),
    "inline with a frame": ([b"t", header(flags=ARRAY, rest=descriptor() + b"abcd"), b"x"],
                            "not referenced"),
    "typed bare array": ([b"t", header(flags=ARRAY, type_name=b"Image", rest=descriptor() + b"abcd")],
                         "typed stream body"),
    "out of band, no frame": ([b"t", header(flags=ARRAY | OUT_OF_BAND, rest=descriptor())],
                              "exactly one buffer frame"),
    "out of band, bytes after": ([b"t", header(flags=ARRAY | OUT_OF_BAND, rest=descriptor() + b"x"),
                                  b"abcd"], "exactly one buffer frame"),
    "out of band size mismatch": ([b"t", header(flags=ARRAY | OUT_OF_BAND, rest=descriptor()), b"abc"],
                                  "is 3 bytes, shape [4] |u1 needs 4"),
    "msgpack body garbage": ([b"t", header(rest=b"\xc1")], "malformed msgpack"),
    "msgpack body with a stray frame": ([b"t", header(rest=b"\xc0"), b"x"], "not referenced"),
    "unknown type": ([b"t", header(type_name=b"Pickle", rest=b"\x80")], "unknown message type"),
    "header over the limit": ([b"t", header(rest=b"\xc4\x00" * (1 << 19) + b"\xc0")], "limit"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_malformed_version_2_header_is_a_decode_error(name):
    frames, expected = CASES[name]
    with pytest.raises(DecodeError) as raised:
        StreamMessage.from_frames(frames)
    assert expected in str(raised.value)


def test_rewrite_replaces_times_and_the_trail_and_keeps_the_body():
    message = StreamMessage("t", np.arange(6, dtype="<f4"), 3, 10, 20, "n", TRAIL_HOPS)
    frames = message.to_frames(new_stream_encoder())
    out = StreamMessage.from_frames([frames[0], stream.rewrite(frames[1], pub_ns=99, trail=None)])
    assert (out.seq, out.stamp_ns, out.pub_ns, out.trail) == (3, 10, 99, None)
    assert (out.value == message.value).all()
    hops = [["x", 1, 99]]
    out = StreamMessage.from_frames([frames[0], stream.rewrite(frames[1], stamp_ns=1, trail=hops)])
    assert (out.stamp_ns, out.pub_ns, out.trail) == (1, 20, hops)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(flags=st.integers(0, 255), lengths=st.tuples(st.integers(0, 70), st.integers(0, 70)),
       numbers=st.tuples(*[st.sampled_from([0, 1, 2**63 - 1, 2**63, 2**64 - 1])] * 3),
       rest=st.binary(max_size=120), more=st.lists(st.binary(max_size=70), max_size=3))
def test_any_version_2_header_decodes_or_is_a_decode_error(flags, lengths, numbers, rest, more):
    data = FIXED.pack(2, flags, *lengths, *numbers) + rest
    try:
        StreamMessage.from_frames([b"t", data, *more], STREAM_LIMITS)
    except DecodeError:
        pass


def test_the_no_edge_reader_in_the_protocol_document_reads_what_publishers_send():
    text = (Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md").read_text()
    section = text[text.index("### Example: a subscriber with no edge import"):]
    code = section[section.index("```python\n") + 10:section.index("\n```", section.index("```python"))]
    namespace: dict = {}
    exec(compile(code, "PROTOCOL.md", "exec"), namespace)
    read_stream = namespace["read_stream"]
    encoder = new_stream_encoder()
    for value in (np.arange(6, dtype="<f4").reshape(2, 3), np.zeros((48, 32, 3), np.uint8),
                  {"fps": 30.0, "names": ["a"]}):
        frames = StreamMessage("cam/x", value, 9, 10, 11, "cam", TRAIL_HOPS).to_frames(encoder)
        got = read_stream([bytes(f) for f in frames])
        assert got[:7] == ("cam/x", "", "cam", 9, 10, 11, TRAIL_HOPS)
        if isinstance(value, np.ndarray):
            assert got[7].shape == value.shape and (got[7] == value).all()
        else:
            assert got[7] == value
