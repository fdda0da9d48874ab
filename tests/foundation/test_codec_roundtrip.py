"""Every numeric dtype, byte order and shape survives encode -> frames -> decode exactly."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from messages import (CallEncoder, Limits, ReplyMessage, RequestMessage, StreamMessage, new_encoder,
                      new_stream_encoder, unpack)
from messages.codec import INLINE_MAX_BYTES

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128"]
ORDERED = [np.dtype(d).newbyteorder(o) for d in DTYPES for o in "<>" if np.dtype(d).itemsize > 1]


def roundtrip(value):
    """Decoded `value`, sent both ways: small arrays inside the header, and every array as a frame."""
    decoded = []
    for encoder in (new_stream_encoder(), new_encoder()):
        message = StreamMessage("t", value, seq=1, stamp_ns=2, pub_ns=3, source="s")
        received = [bytes(memoryview(f).cast("B")) for f in message.to_frames(encoder)]
        decoded.append(StreamMessage.from_frames(received).value)  # as a socket delivers them
    if isinstance(value, np.ndarray):
        assert_same(decoded[1], decoded[0])
    return decoded[0]


def assert_same(a, b):
    assert isinstance(b, np.ndarray)
    assert b.dtype == a.dtype and b.shape == a.shape
    assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    assert not b.flags.writeable


@pytest.mark.parametrize("dtype", DTYPES + ORDERED, ids=str)
def test_each_dtype_and_byte_order(dtype):
    rng = np.random.default_rng(0)
    a = (rng.random((3, 5)) * 100).astype(dtype)
    assert_same(a, roundtrip(a))


@pytest.mark.parametrize("shape", [(), (0,), (0, 4), (3, 0, 2), (1,), (2, 3, 4, 5)])
def test_zero_d_and_empty_shapes(shape):
    a = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    assert_same(a, roundtrip(a))


def test_numpy_scalars_keep_their_dtype():
    out = roundtrip({"h": np.float16(1.5), "c": np.complex64(1 + 2j), "b": np.bool_(True)})
    assert out["h"].dtype == np.float16 and out["h"] == 1.5
    assert out["c"].dtype == np.complex64 and out["c"] == 1 + 2j
    assert out["b"].dtype == np.bool_ and out["b"]


def test_non_contiguous_arrays_are_made_contiguous():
    base = np.arange(60, dtype=np.int32).reshape(6, 10)
    for view in (base[:, ::3], base.T, base[::-1]):
        assert_same(np.ascontiguousarray(view), roundtrip(view))


def test_nested_containers_of_arrays():
    value = {"a": [np.ones(3, np.uint8), {"b": np.zeros((2, 2), ">f8")}], "n": 5, "s": "x",
             "none": None, "bytes": b"\x00\x01", "list": [1, 2.5, True]}
    out = roundtrip(value)
    assert_same(value["a"][0], out["a"][0])
    assert_same(value["a"][1]["b"], out["a"][1]["b"])
    assert out["n"] == 5 and out["s"] == "x" and out["none"] is None
    assert out["bytes"] == b"\x00\x01" and out["list"] == [1, 2.5, True]


@pytest.mark.timeout(120)
def test_very_large_array():
    a = np.arange(300_000_000 // 8, dtype=np.int64)  # 300 MB
    encoder = new_encoder()
    frames = StreamMessage("t", a).to_frames(encoder)
    out = StreamMessage.from_frames(frames, Limits(max_total_bytes=1 << 30)).value
    assert out.shape == a.shape and out[-1] == a[-1] and out[123_456] == a[123_456]


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(dtype=st.sampled_from([np.dtype(d) for d in DTYPES] + ORDERED),
                  shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)))
def test_property_any_numeric_array(a):
    assert_same(a, roundtrip(a))


def test_unpack_rejects_nothing_valid_with_buffers_only_used_once():
    encoder = new_encoder()
    header, buffers = encoder.pack([np.ones(2), np.zeros(3)])
    left, right = unpack(header, buffers)
    assert left.tolist() == [1, 1] and right.tolist() == [0, 0, 0]


def test_small_arrays_travel_inside_the_header_large_ones_in_frames():
    small, large = np.arange(16, dtype=np.float32), np.zeros(INLINE_MAX_BYTES + 1, np.uint8)
    frames = StreamMessage("t", {"s": small, "l": large, "t": small.T}).to_frames(new_stream_encoder())
    assert len(frames) == 3  # topic, header (both small arrays inside), one frame for `large`
    out = StreamMessage.from_frames([bytes(f) for f in frames]).value
    assert_same(small, out["s"]) and assert_same(small, out["t"])
    assert_same(large, out["l"])
    # Inside a body, arrays follow the encoder (services' encoders keep frames for all)...
    assert len(StreamMessage("t", {"s": small}).to_frames(new_encoder())) == 3
    # ...while a bare array is the stream header's own: inline up to the limit, else one frame.
    assert len(StreamMessage("t", small).to_frames(new_encoder())) == 2
    assert len(StreamMessage("t", large).to_frames(new_stream_encoder())) == 3


def test_calls_carry_small_arrays_in_the_header_unless_it_would_pass_the_limit():
    """CallEncoder (clients and services alike): one frame for a tiny call, frames for arrays
    that would take the header over what the receiver accepts; both decode the same."""
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(400, np.float64)}
    request = RequestMessage("id:1", "forward", {"inputs": arrays}, timeout_ms=5)
    inline = CallEncoder().frames(request)
    framed = CallEncoder(max_header_bytes=1024).frames(request)   # b is 3.2 kB
    assert len(inline) == 1 and len(framed) == 3 and len(framed[0]) <= 1024
    for frames in (inline, framed):
        body = RequestMessage.from_frames([bytes(memoryview(f).cast("B")) for f in frames]).body
        for name, array in arrays.items():
            assert_same(array, body["inputs"][name])
    reply = ReplyMessage("id:1", ok=True, body={"outputs": arrays})
    assert len(CallEncoder().frames(reply)) == 1
