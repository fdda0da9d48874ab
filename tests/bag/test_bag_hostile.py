"""A corrupt or crafted MCAP file is one BagError, and reading it never asks for more memory
than the reader's limits allow, whatever lengths the file states."""
import random
import resource
import struct

import lz4.frame
import numpy as np
import pytest
import zstandard
from mcap.data_stream import RecordBuilder
from mcap.opcode import Opcode
from mcap.records import Channel, Chunk, ChunkIndex, DataEnd, Footer, Header, Message, Schema
from mcap.writer import MCAP0_MAGIC

from edge import bag
from edge.bag.reader import recorded_topics
from edge.bag.records import Records
from edge.bag.writer import BagWriter
from messages import Image, Limits

pytestmark = pytest.mark.timeout(120)

BIG = 512 << 20  # what a bomb would inflate to, or a corrupt length would ask for
GROWTH_LIMIT_KIB = 128 << 10  # peak memory may grow this much while reading a bomb


def readers(path):
    """Every way the package reads a file, each run to the end."""
    return [lambda: list(bag.read_messages(path)), lambda: bag.info(path),
            lambda: recorded_topics(path), lambda: list(bag.read_messages(path, ["numbers"]))]


def crafted(path, *records, summary=()) -> str:
    """An MCAP file of exactly these records (or raw record bytes) after a header, then a
    data end, the `summary` records if any, and a footer."""
    builder = RecordBuilder()
    for record in (Header(profile="", library="crafted"), *records, DataEnd(0)):
        write(builder, record)
    summary_start = len(MCAP0_MAGIC) + builder.count if summary else 0
    for record in (*summary, Footer(summary_start, 0, 0)):
        write(builder, record)
    path.write_bytes(MCAP0_MAGIC + builder.end() + MCAP0_MAGIC)
    return str(path)


def write(builder, record) -> None:
    if isinstance(record, bytes):
        builder.write(record)
    else:
        record.write(builder)


def chunk(compression: str, data: bytes, uncompressed_size: int) -> Chunk:
    return Chunk(compression=compression, data=data, message_end_time=0, message_start_time=0,
                 uncompressed_crc=0, uncompressed_size=uncompressed_size)


def peak_growth_kib(read) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(bag.BagError):
        read()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before


def test_an_lz4_chunk_that_inflates_past_its_stated_size_is_refused(tmp_path):
    bomb = lz4.frame.compress(bytes(BIG))  # ~2 MB on disk
    path = crafted(tmp_path / "lz4.mcap", chunk("lz4", bomb, 1024))
    for read in readers(path)[:2]:
        assert peak_growth_kib(read) < GROWTH_LIMIT_KIB


def test_a_zstd_chunk_cannot_make_the_reader_allocate_what_its_frame_claims(tmp_path):
    frame = zstandard.ZstdCompressor().compress(bytes(BIG))  # states BIG as its content size
    path = crafted(tmp_path / "zstd.mcap", chunk("zstd", frame, 1024))
    for read in readers(path)[:2]:
        assert peak_growth_kib(read) < GROWTH_LIMIT_KIB


def test_a_chunk_stating_a_huge_inflated_size_is_refused_before_inflating(tmp_path):
    path = crafted(tmp_path / "huge.mcap", chunk("zstd", b"\x28\xb5\x2f\xfd", 1 << 40))
    with pytest.raises(bag.BagError, match="states 1099511627776 bytes inflated"):
        list(bag.read_messages(path))


def test_a_field_claiming_gigabytes_in_a_small_file_is_refused(tmp_path):
    # a Schema record of 7 bytes: id 1, then a name whose u32 length says 3 GiB
    schema = struct.pack("<BQHI", Opcode.SCHEMA, 7, 1, 3 << 30) + b"x"
    path = crafted(tmp_path / "field.mcap", schema)
    for read in readers(path)[:2]:
        assert peak_growth_kib(read) < GROWTH_LIMIT_KIB
    with pytest.raises(bag.BagError, match="claims 3221225472 bytes"):
        list(bag.read_messages(path))


def test_a_message_on_an_undeclared_channel_is_a_bag_error(tmp_path):
    path = crafted(tmp_path / "orphan.mcap",
                   Message(channel_id=7, log_time=1, data=b"x", publish_time=1, sequence=0))
    with pytest.raises(bag.BagError, match="channel 7, which the file never declared"):
        list(bag.read_messages(path))


SMALL = Limits(max_total_bytes=1 << 20)  # a reader that keeps at most 9 MiB of declarations


def schema(id: int, size: int = 1 << 20) -> Schema:
    return Schema(id=id, name="s", encoding="", data=bytes(size))


def test_schemas_and_channels_are_kept_within_the_readers_bound(tmp_path):
    """Each record is within bounds, their sum is not: ids are 16-bit, records are not."""
    many = crafted(tmp_path / "many.mcap", *[schema(id) for id in range(1, 13)])
    for read in (lambda: list(bag.read_messages(many, limits=SMALL)),
                 lambda: bag.info(many, SMALL)):
        with pytest.raises(bag.BagError, match="channels and chunk indexes take more than 9437184"):
            read()
    topics = [Channel(id=id, schema_id=0, topic="t" * (1 << 20), message_encoding="",
                      metadata={}) for id in range(12)]
    with pytest.raises(bag.BagError, match="take more than"):
        list(bag.read_messages(crafted(tmp_path / "topics.mcap", *topics), limits=SMALL))
    again = crafted(tmp_path / "again.mcap", *[schema(1) for _ in range(12)])
    assert list(bag.read_messages(again, limits=SMALL)) == []  # one id declared 12 times


def test_a_summary_is_kept_within_the_readers_bound(tmp_path):
    index = ChunkIndex(message_start_time=0, message_end_time=0, chunk_start_offset=0,
                       chunk_length=0, message_index_offsets={id: 0 for id in range(1000)},
                       message_index_length=0, compression="", compressed_size=0,
                       uncompressed_size=0)
    path = crafted(tmp_path / "indexes.mcap", summary=[index] * 200)  # 12 MiB kept, 2 MiB read
    for read in (lambda: recorded_topics(path, SMALL),
                 lambda: list(bag.read_messages(path, ["t"], limits=SMALL))):
        with pytest.raises(bag.BagError, match="take more than 9437184"):
            read()
    assert bag.info(path, SMALL)["messages"] == 0  # one pass keeps no chunk index
    path = crafted(tmp_path / "schemas.mcap", summary=[schema(id) for id in range(1, 13)])
    with pytest.raises(bag.BagError, match="take more than"):
        recorded_topics(path, SMALL)
    assert recorded_topics(crafted(tmp_path / "fine.mcap", summary=[index] * 20), SMALL) == []


@pytest.mark.parametrize("compression", ["none", "lz4", "zstd"])
def test_mutated_recordings_raise_only_bag_errors(tmp_path, compression):
    """Bit flips, cuts, splices and overwrites of a real recording, 300 of each file."""
    path = tmp_path / "base.mcap"
    with bag.write(str(path), compression=compression) as out:
        for n in range(6):
            out.add("camera/image", Image(np.full((8, 10, 3), n, np.uint8), "rgb8", n),
                    log_time_ns=100 + n)
            out.add("numbers", np.arange(20) + n, log_time_ns=100 + n)
            out.add("info", {"n": n, "s": "x" * n}, log_time_ns=100 + n)
    base, rng, mutant = path.read_bytes(), random.Random(compression), tmp_path / "mutant.mcap"
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data))
            kind = rng.randrange(4)
            if kind == 0:
                data[at] ^= 1 << rng.randrange(8)
            elif kind == 1:
                data[at] = rng.randrange(256)
            elif kind == 2:
                source = rng.randrange(len(base))
                data[at:at + 8] = base[source:source + 8]
            else:
                del data[at:]
                break
        mutant.write_bytes(bytes(data))
        for read in readers(str(mutant)):
            try:
                read()
            except bag.BagError:
                pass


def test_some_topics_of_a_chunked_file_are_read_from_their_chunks_only(tmp_path):
    """The file's index says which chunks hold which channels: the others are not read
    (here one of them is broken, which reading everything reports)."""
    path = tmp_path / "two.mcap"
    with BagWriter(str(path), compression="zstd", chunk_bytes=2048) as out:
        for n in range(20):
            out.add("camera", np.full(1000, n, np.uint8), log_time_ns=n)
        for n in range(3):
            out.add("numbers", np.arange(3) + n, log_time_ns=100 + n)
    with open(path, "rb") as stream:
        summary = Records(str(path), stream, 1 << 20).summary()
    camera = {id for id, channel in summary.channels.items() if channel.topic == "camera"}
    first = min(summary.chunk_indexes, key=lambda index: index.chunk_start_offset)
    assert set(first.message_index_offsets) <= camera and len(summary.chunk_indexes) > 3
    data = bytearray(path.read_bytes())
    at = first.chunk_start_offset + 41  # opcode, length, times, size, crc, string length
    assert data[at:at + 4] == b"zstd"
    data[at:at + 4] = b"zstx"
    path.write_bytes(bytes(data))
    assert [int(value[0]) for _, _, value in bag.read(str(path), ["numbers"])] == [0, 1, 2]
    with pytest.raises(bag.BagError, match="unknown compression 'zstx'"):
        list(bag.read(str(path)))
