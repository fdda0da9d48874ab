"""Hostile bytes: every decoder raises DecodeError and nothing else, with bounded work."""

import msgpack
import numpy as np
import pytest

from messages import DecodeError, Limits, ReplyMessage, RequestMessage, StreamMessage, TensorSpec
from messages import codec
from messages.codec import check_dtype, unpack
from messages.schema import SchemaError
from own_time import OwnTime


def stream(header, *buffers):
    return [b"t", msgpack.packb(header), *buffers]


def typed(type_name, body):
    return stream({"v": 1, "type": type_name, "seq": 1, "stamp_ns": 1, "pub_ns": 1, "src": "x",
                   "body": body})


@pytest.mark.parametrize("dtype", [",", "f4,i4", "(2)f4", "<f4\n", "O", "S10", "M8[ns]", 3, None,
                                   [1], {"names": ["a"], "formats": ["<f4"], "offsets": [2**63]},
                                   {"names": ["a"], "formats": ["<f4"], "offsets": [2**64 - 1]}])
def test_tensor_spec_dtype_from_a_peer_is_a_decode_error(dtype):
    with pytest.raises(DecodeError, match="unsupported dtype"):
        StreamMessage.from_frames(typed("TensorSpec", {"name": "x", "dtype": dtype, "shape": []}))
    with pytest.raises(SchemaError):
        TensorSpec("x", dtype)


def test_tensor_spec_accepts_names_wire_strings_and_numpy_types():
    for dtype in ("float32", "<f4", ">f4", np.float32, np.dtype("float32")):
        assert TensorSpec("x", dtype).dtype == "float32"


def test_model_info_with_bad_nested_spec_is_a_decode_error():
    body = {"uid": "u", "metadata": {}, "input_specs": [{"name": "x", "dtype": ","}]}
    with pytest.raises(DecodeError):
        StreamMessage.from_frames(typed("ModelInfo", body))


def test_unknown_fields_of_mixed_key_types_are_a_decode_error():
    with pytest.raises(DecodeError, match="unknown field"):
        StreamMessage.from_frames(typed("Dim", {b"x": 1, "y": 2, "size": 1}))


def test_dtype_with_trailing_newline_is_refused():
    with pytest.raises(DecodeError):
        check_dtype("<f4\n")


def test_msgpack_timestamp_is_refused():
    header = {"v": 1, "type": "", "seq": 1, "stamp_ns": 1, "pub_ns": 1, "src": "x",
              "body": [1, {"t": msgpack.Timestamp(1, 2)}]}
    with pytest.raises(DecodeError, match="Timestamp"):
        StreamMessage.from_frames([b"t", msgpack.packb(header, datetime=False)])
    # The byte patterns of a timestamp inside a string are fine.
    assert StreamMessage.from_frames(stream({**header, "body": "\xd6\xff"})).value == "\xd6\xff"


def timed_decode(frames, decoder=StreamMessage.from_frames):
    """(own seconds, message): the load's wait for a CPU does not count (tests/own_time.py)."""
    with OwnTime() as timed, pytest.raises(DecodeError) as caught:
        decoder(frames)
    return timed.elapsed_s, str(caught.value)


@pytest.mark.timeout(30)
def test_a_16_mib_header_of_empty_lists_is_refused_at_once():
    header = b"\xdf" + (8 << 20).to_bytes(4, "big") + b"\x90" * (16 << 20)  # a map, as headers are
    for decoder in (StreamMessage.from_frames, lambda f: RequestMessage.from_frames(f[1:]),
                    lambda f: ReplyMessage.from_frames(f[1:])):
        elapsed, why = timed_decode([b"t", header], decoder)
        assert elapsed < 0.5 and "limit" in why


@pytest.mark.timeout(30)
def test_many_small_containers_within_the_header_limit_stop_decoding_early():
    # ~1 MiB of empty lists in 15 lists of 64k: within the header limit, over the item limit.
    inner = b"\xdc" + (65535).to_bytes(2, "big") + b"\x90" * 65535
    header = b"\x81\xa1k\xdc" + (15).to_bytes(2, "big") + inner * 15  # {"k": [...]}
    assert len(header) <= codec.STREAM_LIMITS.max_header_bytes
    elapsed, why = timed_decode([b"t", header])
    assert elapsed < 2.0 and "items" in why  # stopped early: a full decode builds ~1M lists


def test_deep_nesting_is_refused_and_error_text_stays_short():
    deep = b"\x91" * 900 + b"\xc0"
    _, why = timed_decode([b"t", deep])
    assert len(why) < 300
    header = b"\x83" + msgpack.packb("v") + b"\x01" + msgpack.packb("method") + msgpack.packb("m")
    header += msgpack.packb("id")  # an id nested 900 deep + b"\x91" * 900 + b"\xc0"
    _, why = timed_decode([header], RequestMessage.from_frames)
    assert len(why) < 300


@pytest.mark.parametrize("key", ["seq", "stamp_ns", "pub_ns"])
@pytest.mark.parametrize("value", [2**63, 2**64 - 1, -1])
def test_sequence_numbers_and_times_must_fit_int64(key, value):
    header = {"v": 1, "type": "", "seq": 1, "stamp_ns": 1, "pub_ns": 1, "src": "x", "body": None}
    with pytest.raises(DecodeError, match=key):
        StreamMessage.from_frames(stream({**header, key: value}))


def test_peek_id_is_bounded_by_the_header_limit():
    header = msgpack.packb({"id": "x", "pad": b"\x00" * (9 << 20)})
    with OwnTime() as timed:
        assert RequestMessage.peek_id([header]) is None
    assert timed.elapsed_s < 0.5
    assert RequestMessage.peek_id([msgpack.packb({"id": "x", "v": 2})]) == "x"


def test_per_kind_limits():
    assert codec.CONTROL_LIMITS.max_header_bytes < codec.STREAM_LIMITS.max_header_bytes
    with pytest.raises(DecodeError, match="limit"):
        unpack(msgpack.packb("x" * (300 << 10)), [], codec.CONTROL_LIMITS)
    limits = Limits(max_total_bytes=1000)
    assert limits.max_frame_bytes == limits.max_header_bytes
    assert limits.replace(max_items=5).max_items == 5 and limits.replace().max_total_bytes == 1000


def test_ndarray_ref_with_huge_dims_is_a_decode_error():
    ref = msgpack.ExtType(1, msgpack.packb([0, "|u1", [0, 2**64 - 1]]))
    with pytest.raises(DecodeError):
        StreamMessage.from_frames(stream({"v": 1, "type": "", "seq": 1, "stamp_ns": 1, "pub_ns": 1,
                                          "src": "x", "body": ref}, b""))
