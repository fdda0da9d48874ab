"""edge.bag.write / read: lossless MCAP files that the plain `mcap` reader opens too."""
import numpy as np
import pytest
from mcap.reader import make_reader

from edge import bag
from edge.bag.layout import MESSAGE_ENCODING
from messages import Image, StreamMessage, Text, new_encoder

DTYPES = ["|b1", "|i1", "<i2", ">i4", "<i8", "|u1", "<u2", "<u4", ">u8", "<f2", "<f4", ">f8", "<c8", "<c16"]


def _arrays():
    rng = np.random.default_rng(3)
    for dtype in DTYPES:
        raw = rng.integers(0, 256, size=24 * np.dtype(dtype).itemsize, dtype=np.uint8)
        yield raw.view(dtype).reshape(2, 3, 4)  # any bit pattern, NaNs included


def test_values_and_headers_come_back_exactly(tmp_path):
    path = str(tmp_path / "run.mcap")
    encoder, sent = new_encoder(), []
    with bag.write(path) as out:
        for index, array in enumerate(_arrays()):
            message = StreamMessage("tensors", {"x": array, "i": index}, seq=100 + 2 * index,
                                    stamp_ns=10**18 + index, pub_ns=10**18 + 5 + index, source="cam")
            out.add_frames(message.to_frames(encoder), log_time_ns=2 * 10**18 + index, message=message)
            sent.append(message)
        image = Image(np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3), "rgb8", 42)
        out.add("camera/image", image, stamp_ns=7, log_time_ns=2 * 10**18 + 100)
    got = list(bag.read_messages(path))
    assert [m.topic for m in got] == ["tensors"] * len(DTYPES) + ["camera/image"]
    for before, after in zip(sent, got):
        m = after.message
        assert (m.seq, m.stamp_ns, m.pub_ns, m.source) == (before.seq, before.stamp_ns, before.pub_ns, "cam")
        assert m.value["x"].dtype.str == before.value["x"].dtype.str
        assert m.value["x"].tobytes() == before.value["x"].tobytes() and m.value["i"] == before.value["i"]
        assert not m.value["x"].flags.writeable
    topic, log_time_ns, value = list(bag.read(path, topics=["camera/image"]))[0]
    assert (topic, log_time_ns, value.frame_id, value.encoding) == ("camera/image", 2 * 10**18 + 100, 42, "rgb8")
    assert np.array_equal(value.data, image.data)


def test_plain_mcap_reader_sees_one_channel_per_topic(tmp_path):
    path = str(tmp_path / "plain.mcap")
    with bag.write(path, compression="zstd") as out:
        for n in range(3):
            out.add("camera/truth", Text(["a", "b"], np.zeros((2, 4), np.float32), None, None, n))
            out.add("numbers", np.array([n]))
    with open(path, "rb") as stream:
        reader = make_reader(stream)
        summary = reader.get_summary()
        channels = {c.topic: c for c in summary.channels.values()}
        assert sorted(channels) == ["camera/truth", "numbers"]
        assert {c.message_encoding for c in channels.values()} == {MESSAGE_ENCODING}
        names = {summary.schemas[c.schema_id].name for c in channels.values()}
        assert names == {"edge.Text", "edge.value"}
        assert summary.statistics.message_count == 6
        records = [(c.topic, m.sequence) for _, c, m in reader.iter_messages()]
    assert records == [("camera/truth", 1), ("numbers", 1), ("camera/truth", 2), ("numbers", 2),
                       ("camera/truth", 3), ("numbers", 3)]
    summary = bag.info(path)
    assert summary["messages"] == 6
    assert [(t["topic"], t["type"], t["count"]) for t in summary["topics"]] == [
        ("camera/truth", "Text", 3), ("numbers", "-", 3)]


def test_not_an_mcap_file_is_one_bag_error(tmp_path):
    path = tmp_path / "junk.mcap"
    path.write_bytes(b"\x89MCAP0\r\n" + b"\x07" * 100)
    with pytest.raises(bag.BagError, match="junk.mcap"):
        list(bag.read(str(path)))
    with pytest.raises(bag.BagError, match="junk.mcap"):
        bag.info(str(path))
    with pytest.raises(bag.BagError, match="cannot open"):
        list(bag.read(str(tmp_path / "missing.mcap")))


def test_a_corrupt_message_names_topic_and_time(tmp_path):
    from mcap.writer import Writer
    path = tmp_path / "bad.mcap"
    with open(path, "wb") as stream:
        writer = Writer(stream)
        writer.start()
        channel = writer.register_channel("camera/image", MESSAGE_ENCODING, 0)
        writer.add_message(channel, log_time=5, data=b"\x01\x00\x00\x00" + b"\x03" + b"\x00" * 7 + b"\xc1\xc1\xc1",
                           publish_time=5)
        writer.finish()
    with pytest.raises(bag.BagError, match="'camera/image' at log time 5"):
        list(bag.read(str(path)))


def test_recorder_node_never_overwrites_a_recording(tmp_path):
    from nodes.basic import _unused_path
    first = tmp_path / "run.mcap"
    assert _unused_path(str(first)) == str(first)
    first.write_bytes(b"")
    (tmp_path / "run-1.mcap").write_bytes(b"")
    assert _unused_path(str(first)) == str(tmp_path / "run-2.mcap")
    assert _unused_path(str(tmp_path / "plain")) == str(tmp_path / "plain")


def test_unchunked_files_have_exact_statistics_and_order(tmp_path):
    path = str(tmp_path / "fast.mcap")
    frame = Image(np.arange(30 * 40 * 3, dtype=np.uint8).reshape(30, 40, 3), "bgr8", 0)
    with bag.write(path) as out:
        for n in range(5):
            out.add("camera/image", frame, log_time_ns=100 + n)
            out.add("numbers", np.array([n]), log_time_ns=100 + n)
    with open(path, "rb") as stream:
        reader = make_reader(stream, validate_crcs=True)
        summary = reader.get_summary()
        stats = summary.statistics
        assert (stats.message_count, stats.message_start_time, stats.message_end_time) == (10, 100, 104)
        by_topic = {summary.channels[c].topic: n for c, n in stats.channel_message_counts.items()}
        assert by_topic == {"camera/image": 5, "numbers": 5} and summary.chunk_indexes == []
    with open(path, "rb") as stream:   # a reader that streams the records, checking every one
        from mcap.reader import NonSeekingReader
        topics = [c.topic for _, c, _ in NonSeekingReader(stream, validate_crcs=True).iter_messages(
            log_time_order=False)]
    assert topics == ["camera/image", "numbers"] * 5
    values = [v for _, _, v in bag.read(path, ["camera/image"])]
    assert all(v.data.tobytes() == frame.data.tobytes() for v in values) and len(values) == 5


def test_a_file_cut_short_yields_what_it_holds(tmp_path, caplog):
    path = tmp_path / "cut.mcap"
    with bag.write(str(path)) as out:
        for n in range(5):
            out.add("numbers", np.arange(1000) + n)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - 300 - 4000])   # the summary and part of the last message
    values = [v for _, _, v in bag.read(str(path))]
    assert [int(v[0]) for v in values] == [0, 1, 2, 3]
    assert "ends early" in caplog.text
    assert bag.info(str(path))["messages"] == 4


def test_cli_offers_the_writers_compressions():
    from edge.bag.writer import COMPRESSIONS
    from edge.cli.bag import COMPRESSIONS as offered
    assert sorted(COMPRESSIONS) == sorted(offered)
