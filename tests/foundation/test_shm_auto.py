"""transport auto: large arrays go by shared memory to readers on this host, all else by zmq."""
import mmap

import numpy as np
import pytest

from edge import Node
from edge.config import SHM_MIN_BYTES


def backed_by_shm(array: np.ndarray) -> bool:
    """Whether the array is a view on a mapped segment (a reader's view), not a zmq frame."""
    base = array
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)


def exchange(publisher: Node, reader: Node, value, names: set, tries: int = 200) -> dict:
    """Publish `value` until every input in `names` delivered it (slow joiners miss the first)."""
    seen = {}
    for _ in range(tries):
        publisher.publish("out", value)
        while (event := reader.next_event(timeout_s=0.02)) is not None:
            seen[event.name] = event
        if names <= set(seen):
            return seen
    raise AssertionError(f"only {sorted(seen)} of {sorted(names)} received")


@pytest.fixture
def pair(short_dir):
    endpoint = f"ipc://{short_dir}/auto.sock"
    made = []

    def make(transport=None, **output):
        port = {"topic": "cam/image", "endpoint": endpoint, **output}
        if transport is not None:
            port["transport"] = transport
        publisher = Node("cam", handle_signals=False, outputs={"out": port})
        publisher.bind_outputs()
        reader = Node("reader", handle_signals=False)
        made.extend([reader, publisher])
        return publisher, reader, endpoint

    yield make
    for node in made:
        node.close()


@pytest.mark.timeout(30)
def test_large_arrays_go_by_shm_small_ones_and_plain_readers_by_zmq(pair):
    publisher, reader, endpoint = pair()  # no transport given: auto
    reader.subscribe("local", topic="cam/image", endpoint=endpoint, transport="auto")
    reader.subscribe("plain", topic="cam/image", endpoint=endpoint, transport="zmq")
    big = np.full((SHM_MIN_BYTES // 3 + 1, 3), 7, np.uint8)  # just over the threshold
    seen = exchange(publisher, reader, big, {"local", "plain"})
    local, plain = seen["local"], seen["plain"]
    assert backed_by_shm(local.value) and not backed_by_shm(plain.value)
    for event in (local, plain):
        assert event.topic == "cam/image" and not event.value.flags.writeable
        assert np.array_equal(event.value, big)
    assert big.flags.writeable  # the publisher's own array is untouched: it was copied
    small = np.arange(16, dtype=np.float32)
    seen = exchange(publisher, reader, small, {"local", "plain"})
    assert all(np.array_equal(e.value, small) and not backed_by_shm(e.value) for e in seen.values())
    stats = reader.stats()["inputs"]
    assert stats["local"]["decode_errors"] == stats["plain"]["decode_errors"] == 0


@pytest.mark.timeout(30)
def test_opting_out_with_transport_zmq_and_raising_the_threshold(pair):
    publisher, reader, endpoint = pair("zmq")
    reader.subscribe("local", topic="cam/image", endpoint=endpoint)  # zmq, as wiring sets it
    big = np.ones((1 << 20,), np.uint8)
    assert not backed_by_shm(exchange(publisher, reader, big, {"local"})["local"].value)
    publisher.close()
    reader.close()
    publisher, reader, endpoint = pair(shm_min_bytes=2 << 20)
    reader.subscribe("local", topic="cam/image", endpoint=endpoint, transport="auto")
    assert not backed_by_shm(exchange(publisher, reader, big, {"local"})["local"].value)
    bigger = np.ones((2 << 20,), np.uint8)
    assert backed_by_shm(exchange(publisher, reader, bigger, {"local"})["local"].value)


@pytest.mark.timeout(30)
def test_a_slow_auto_reader_counts_overwritten_frames_as_drops(pair):
    publisher, reader, endpoint = pair()
    reader.subscribe("local", topic="cam/image", endpoint=endpoint, transport="auto",
                     queue_size=16, max_age_s=0)
    exchange(publisher, reader, np.zeros(SHM_MIN_BYTES, np.uint8), {"local"})
    for value in range(1, 9):  # 8 frames unread through a pool of 4 frames
        publisher.publish("out", np.full(SHM_MIN_BYTES, value, np.uint8))
    values = []
    while (event := reader.next_event(timeout_s=0.5)) is not None:
        assert backed_by_shm(event.value) and (event.value == event.value[0]).all()
        values.append(int(event.value[0]))
    stats = reader.stats()["inputs"]["local"]
    assert values == [5, 6, 7, 8]  # only the newest 4 survived; never a torn or reused frame
    assert stats["overwritten"] == 4 and stats["dropped"] >= 4
