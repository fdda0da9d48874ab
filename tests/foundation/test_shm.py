"""Shared-memory frames: read-only views, the generation check, locks, and kill -9 of either side."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from edge import Node
from edge.errors import ResourceExhausted
from edge.memory.shm import FramePool, ShmReader
from messages.shm import ShmFrame


def published(pool: FramePool, value: int, shape=(480, 640, 3)) -> ShmFrame:
    frame = pool.loan(shape, np.uint8)
    frame[...] = value
    return pool.release(frame)


def memfd_mappings() -> int:
    with open("/proc/self/maps") as maps:
        return sum("memfd:edge-shm" in line for line in maps)


def test_a_reader_gets_a_read_only_view_of_the_published_frame():
    pool, reader = FramePool(), ShmReader()
    try:
        view = reader.view(published(pool, 7))
        assert view.shape == (480, 640, 3) and view.dtype == np.uint8
        assert not view.flags.writeable
        assert (view == 7).all()
        with pytest.raises((ValueError, TypeError)):
            view[0, 0, 0] = 1
    finally:
        reader.close()
        pool.close()


def test_a_frame_reused_before_it_is_read_is_a_drop_and_a_held_frame_is_never_reused():
    pool, reader = FramePool(slots=2, max_slots=2), ShmReader()
    try:
        first, second = published(pool, 1), published(pool, 2)
        third = published(pool, 3)              # reuses the first frame's segment
        assert reader.view(first) is None       # generation moved on: counted as a drop upstream
        held = reader.view(second)
        assert (held == 2).all()
        fourth = published(pool, 4)             # the held segment is skipped: the third is reused
        assert (held == 2).all()
        assert reader.view(third) is None
        assert (reader.view(fourth) == 4).all()
        with pytest.raises(ResourceExhausted):  # both held (one by the reader), the pool is full
            kept = pool.loan((4,), np.uint8)
            pool.loan((4,), np.uint8)
        del held, kept
        published(pool, 5)                      # released views free their segments again
    finally:
        reader.close()
        pool.close()


HOLDER = """
import json, sys, time
from edge.memory.shm import ShmReader
from messages.shm import ShmFrame
view = ShmReader().view(ShmFrame(**json.loads(sys.argv[1])))
print(int(view[0, 0, 0]), flush=True)
time.sleep(60)
"""

OWNER = """
import json, time, numpy as np
from edge.memory.shm import FramePool
pool = FramePool()
frame = pool.loan((480, 640, 3), np.uint8)
frame[...] = 9
print(json.dumps(pool.release(frame).to_wire()), flush=True)
time.sleep(60)
"""


def start(code: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    proc.stdout.close()


def test_a_reader_killed_while_holding_a_frame_releases_it():
    pool = FramePool(slots=1, max_slots=1)
    holder = start(HOLDER, json.dumps(published(pool, 5).to_wire()))
    try:
        assert holder.stdout.readline().strip() == "5"
        with pytest.raises(ResourceExhausted):
            pool.loan((4,), np.uint8)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        assert pool.loan((4,), np.uint8) is not None  # the kernel dropped the dead reader's lock
    finally:
        stop(holder)
        pool.close()


def test_a_publisher_killed_leaves_readers_their_frame_and_nothing_behind():
    owner = start(OWNER)
    reader = ShmReader()
    try:
        frame = ShmFrame(**json.loads(owner.stdout.readline()))
        view = reader.view(frame)
        with open(f"/proc/{owner.pid}/maps") as maps:
            mapped = maps.read()
        assert "memfd:edge-shm" in mapped and "/dev/shm/" not in mapped  # nothing named to leak
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
        assert (view == 9).all()                    # still mapped, still intact
        with pytest.raises(OSError):                # and no new reader can find it
            ShmReader().view(frame)
        del view
        successor = start(OWNER)                    # a restarted publisher: the dead one's
        try:                                        # segment is unmapped when a new one is seen
            fresh = reader.view(ShmFrame(**json.loads(successor.stdout.readline())))
            assert (fresh == 9).all() and memfd_mappings() == 1
            del fresh
        finally:
            stop(successor)
        reader.close()
        assert memfd_mappings() == 0                # the last mapping is gone: the kernel frees it
    finally:
        stop(owner)


def test_shm_inputs_get_views_and_plain_inputs_get_copies(short_dir):
    endpoint = f"ipc://{short_dir}/shm.sock"
    publisher = Node("cam", handle_signals=False,
                     outputs={"image": {"topic": "cam/image", "endpoint": endpoint, "transport": "shm"}})
    reader = Node("reader", handle_signals=False)
    try:
        publisher.bind_outputs()
        reader.subscribe("local", topic="cam/image", endpoint=endpoint, transport="shm")
        reader.subscribe("plain", topic="cam/image", endpoint=endpoint)
        seen = {}
        for value in range(1, 200):
            frame = publisher.loan((1080, 1920, 3), np.uint8)
            frame[...] = value % 250
            publisher.publish("image", frame)
            assert not frame.flags.writeable
            while (event := reader.next_event(timeout_s=0.05)) is not None:
                seen[event.name] = event
            if len(seen) == 2:
                break
        local, plain = seen["local"], seen["plain"]
        assert local.topic == plain.topic == "cam/image"
        for event in (local, plain):
            assert not event.value.flags.writeable
            assert (event.value == event.value.flat[0]).all() and event.value.flat[0] > 0
        assert memfd_mappings() > 0  # the local input maps the publisher's segments
    finally:
        reader.close()
        publisher.close()


def test_a_lying_or_unreachable_shm_frame_is_counted_and_the_input_goes_on(short_dir):
    import zmq

    from messages import StreamMessage, new_encoder

    endpoint = f"ipc://{short_dir}/lies.sock"
    context = zmq.Context.instance()
    pub = context.socket(zmq.PUB)
    pub.bind(endpoint)
    reader = Node("reader", handle_signals=False)
    pool = FramePool()
    try:
        reader.subscribe("in", topic="cam/image", endpoint=endpoint, transport="shm")
        real = published(pool, 3)
        lies = [ShmFrame.of(2 ** 22 + 12345, 3, 1, 1, 64, "|u1", [4]),             # no such process
                ShmFrame.of(real.pid, real.fd, real.inode, real.generation, 64, "|u1", [10 ** 9]),
                {"pid": -1, "fd": 0, "inode": 0, "generation": 0, "offset": 0, "dtype": "|O", "shape": []}]
        encoder, seq = new_encoder(), 0
        while True:
            seq += 1
            body = lies[seq % 3] if seq < 200 else real
            now = time.time_ns()  # a fresh stamp: inputs skip messages older than max_age_s
            frames = StreamMessage("cam/image\0shm", body, seq, now, now, "liar").to_frames_v1(encoder)
            if isinstance(body, dict):
                frames[1] = frames[1].replace(b"\xa4type\xa0", b"\xa4type\xa8ShmFrame")
            pub.send_multipart(frames)
            event = reader.next_event(timeout_s=0.01)
            if event is not None and seq >= 200:
                break
            assert event is None and seq < 400
        assert (event.value == 3).all()
        stats = reader.stats()["inputs"]["in"]
        assert stats["decode_errors"] >= 3 and stats["received"] == 1
    finally:
        pool.close()
        reader.close()
        pub.close(0)
