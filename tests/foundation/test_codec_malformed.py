"""A decoder that does not trust its peer: each malformed input is a DecodeError saying what."""
import msgpack
import numpy as np
import pytest

from messages import DecodeError, Limits, ReplyMessage, RequestMessage, StreamMessage, new_encoder
from messages.codec import EXT_NDARRAY, EXT_NDARRAY_INLINE


def ext(index, dtype, shape):
    return msgpack.ExtType(EXT_NDARRAY, msgpack.packb([index, dtype, shape]))


def inline(dtype, shape, data, ref=None):
    ref = msgpack.packb([dtype, shape]) if ref is None else ref
    return msgpack.ExtType(EXT_NDARRAY_INLINE, bytes([len(ref)]) + ref + data)


def stream(header, *buffers, topic=b"t"):
    return [topic, msgpack.packb(header), *buffers]


def good_header(**changes):
    header = {"v": 1, "type": "", "seq": 1, "stamp_ns": 1, "pub_ns": 1, "src": "x", "body": None}
    header.update(changes)
    return header


CASES = {
    "no frames": ([], "needs [topic, header"),
    "topic only": ([b"t"], "needs [topic, header"),
    "garbage header": ([b"t", b"\xc1\xc1\xc1"], "neither version 1"),
    "garbage msgpack": ([b"t", b"\x83\xc1\xc1"], "malformed msgpack"),
    "truncated msgpack": ([b"t", msgpack.packb(good_header())[:-3]], "malformed msgpack"),
    "header not a map": (stream([1, 2, 3]), "neither version 1"),
    "unknown version": (stream(good_header(v=99)), "unknown protocol version 99"),
    "missing version": (stream({"seq": 1}), "unknown protocol version None"),
    "seq wrong type": (stream(good_header(seq="one")), "'seq' has type str"),
    "missing stamp": (stream({k: v for k, v in good_header().items() if k != "stamp_ns"}),
                      "no 'stamp_ns'"),
    "object dtype": (stream(good_header(body=ext(0, "|O", [1])), b"12345678"), "not allowed"),
    "unicode dtype": (stream(good_header(body=ext(0, "<U1", [1])), b"1234"), "not allowed"),
    "structured dtype": (stream(good_header(body=ext(0, "|V8", [1])), b"12345678"), "not allowed"),
    "size mismatch": (stream(good_header(body=ext(0, "<f4", [3])), b"12345678"),
                      "is 8 bytes, shape [3] <f4 needs 12"),
    "negative dim": (stream(good_header(body=ext(0, "|u1", [-1])), b""), "negative dim"),
    "index out of range": (stream(good_header(body=ext(1, "|u1", [1])), b"1"), "out of range"),
    "missing buffer frame": (stream(good_header(body=ext(0, "|u1", [1]))), "out of range"),
    "extra buffer frame": (stream(good_header(body=None), b"1"), "not referenced"),
    "buffer used twice": (stream(good_header(body=[ext(0, "|u1", [1]), ext(0, "|u1", [1])]), b"1"),
                          "referenced twice"),
    "unknown ext code": (stream(good_header(body=msgpack.ExtType(42, b"xx"))), "unknown ExtType code 42"),
    "malformed ext payload": (stream(good_header(body=msgpack.ExtType(EXT_NDARRAY, b"\xc1"))),
                              "malformed ndarray reference"),
    "ext payload wrong arity": (stream(good_header(body=msgpack.ExtType(EXT_NDARRAY, msgpack.packb([0]))),
                                       b"1"), "must be msgpack [index, dtype, shape]"),
    "ext 1 payload too long": (stream(good_header(body=msgpack.ExtType(EXT_NDARRAY, b"\x90" * 1025))),
                               "limit 1024"),
    "inline empty": (stream(good_header(body=msgpack.ExtType(EXT_NDARRAY_INLINE, b""))),
                     "shorter than its reference"),
    "inline ref cut short": (stream(good_header(body=msgpack.ExtType(EXT_NDARRAY_INLINE, b"\x09\x92"))),
                             "shorter than its reference"),
    "inline ref not a pair": (stream(good_header(body=inline("|u1", [1], b"1", msgpack.packb([0, "|u1", [1]])))),
                              "must be msgpack [dtype, shape]"),
    "inline ref garbage": (stream(good_header(body=inline("|u1", [1], b"1", b"\x92\xc1\xc1"))),
                           "inline ndarray: malformed"),
    "inline object dtype": (stream(good_header(body=inline("|O", [1], b"12345678"))), "not allowed"),
    "inline negative dim": (stream(good_header(body=inline("|u1", [-1], b""))), "negative dim"),
    "inline size mismatch": (stream(good_header(body=inline("<f4", [3], b"12345678"))),
                             "holds 8 bytes, shape [3] <f4 needs 12"),
    "inline huge dims": (stream(good_header(body=inline("|u1", [0, 2**64 - 1], b""))), "negative dim"),
    "inline too many dims": (stream(good_header(body=inline("|u1", [1] * 33, b"1"))), "at most 32"),
    "unknown message type": (stream(good_header(type="Pickle", body={})), "unknown message type"),
    "typed body wrong field": (stream(good_header(type="Image", body={"nope": 1})), "unknown field"),
    "topic not utf-8": (stream(good_header(), topic=b"\xff\xfe"), "not UTF-8"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_stream_message(name):
    frames, expected = CASES[name]
    with pytest.raises(DecodeError, match=expected.replace("[", r"\[").replace("(", r"\(")):
        StreamMessage.from_frames(frames)


def test_header_size_limit():
    frames = stream(good_header(body="x" * 2000))
    with pytest.raises(DecodeError, match="header is .* bytes, limit 1000"):
        StreamMessage.from_frames(frames, Limits(max_header_bytes=1000))


def test_total_size_limit():
    frames = StreamMessage("t", np.zeros(10_000, np.uint8)).to_frames(new_encoder())
    with pytest.raises(DecodeError, match="limit 5000"):
        StreamMessage.from_frames(frames, Limits(max_total_bytes=5000))


def test_buffer_count_limit():
    frames = StreamMessage("t", [np.zeros(1)] * 10).to_frames(new_encoder())
    with pytest.raises(DecodeError, match="10 buffer frames, limit 4"):
        StreamMessage.from_frames(frames, Limits(max_buffers=4))


def test_typed_image_with_wrong_channels_is_rejected_on_decode():
    body = {"data": ext(0, "|u1", [2, 2, 2]), "encoding": "bgr8", "frame_id": 0}
    with pytest.raises(DecodeError, match="bgr8 image needs 3 channel"):
        StreamMessage.from_frames(stream(good_header(type="Image", body=body), b"\x00" * 8))


@pytest.mark.parametrize("header, expected", [
    ({"v": 1, "method": "m"}, "request id"),
    ({"v": 1, "id": 1}, "no 'method'"),
    ({"v": 1, "id": 1, "method": 5}, "'method' has type int"),
    ({"v": 1, "id": 1, "method": "m", "timeout_ms": -5}, "timeout_ms must be >= 0"),
    ({"v": 2, "id": 1, "method": "m"}, "unknown protocol version 2"),
])
def test_malformed_requests(header, expected):
    with pytest.raises(DecodeError, match=expected):
        RequestMessage.from_frames([msgpack.packb(header)])


def test_malformed_reply_error():
    with pytest.raises(DecodeError, match="needs string 'code' and 'message'"):
        ReplyMessage.from_frames([msgpack.packb({"v": 1, "id": 1, "ok": False, "error": {"code": 3}})])


def test_encoder_refuses_non_numeric_arrays():
    with pytest.raises(TypeError, match="cannot be sent"):
        new_encoder().pack(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="cannot be sent"):
        new_encoder().pack(np.array([object()]))
    with pytest.raises(TypeError, match="cannot encode"):
        new_encoder().pack({"f": lambda: 1})
