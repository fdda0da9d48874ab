"""The per-hop trail: on the wire (bounded, checked) and added by nodes (docs/PROTOCOL.md, Trail)."""
from __future__ import annotations

import msgpack
import numpy as np
import pytest

from edge import Node
from messages import DecodeError, StreamMessage, new_encoder, stream
from messages.trail import MAX_HOPS, MAX_NODE_NAME_BYTES, extend

pytestmark = pytest.mark.timeout(20)


def _frames_with(trail, version=1) -> list:
    """A message carrying `trail` unchecked: a version 1 map header edited, or version 2."""
    message = StreamMessage("t", np.zeros(4, np.uint8), 1, 10, 20, "n")
    if version == 2:
        message.trail = trail
        return message.to_frames(new_encoder())
    frames = message.to_frames_v1(new_encoder())
    header = msgpack.unpackb(frames[1], raw=False)
    header["trail"] = trail
    return [frames[0], msgpack.packb(header, use_bin_type=True), *frames[2:]]


def test_a_trail_round_trips_and_a_message_without_one_has_no_key():
    plain = StreamMessage("t", 1, 1, 10, 20, "n").to_frames(new_encoder())
    assert not bytes(plain[1])[1] & stream.TRAIL
    assert StreamMessage.from_frames(plain).trail is None
    trail = [["cam", 10, 15], ["pre", 16, 20]]
    frames = StreamMessage("t", 1, 1, 10, 20, "pre", trail).to_frames(new_encoder())
    assert StreamMessage.from_frames(frames).trail == trail
    assert StreamMessage.from_frames(_frames_with(None)).trail is None   # nil: no trail


@pytest.mark.parametrize("bad", [
    "cam", {"cam": 1}, [["cam", 1]], [["cam", 1, 2, 3]], [[1, 2, 3]], [["cam", 1.0, 2]],
    [["cam", -1, 2]], [["cam", 1, 1 << 63]], [["cam", True, 2]], [["x" * 300, 1, 2]],
    [["é" * 200, 1, 2]], [["cam", 1, 2]] * (MAX_HOPS + 1), [[["cam"], 1, 2]]])
@pytest.mark.parametrize("version", [1, 2])
def test_a_malformed_or_oversized_trail_is_a_decode_error(bad, version):
    with pytest.raises(DecodeError, match="trail"):
        StreamMessage.from_frames(_frames_with(bad, version))


@pytest.mark.parametrize("version", [1, 2])
def test_a_huge_trail_is_refused_by_the_header_limits_before_it_is_looked_at(version):
    huge = [["cam", 1, 2]] * 200_000   # 600k items: over the stream limit of 131072
    with pytest.raises(DecodeError, match="items|header"):
        StreamMessage.from_frames(_frames_with(huge, version))


def test_extend_keeps_the_newest_hops_and_bounds_names():
    full = [[f"n{i}", i, i] for i in range(MAX_HOPS)]
    longer = extend(full, "last", 100, 101)
    assert len(longer) == MAX_HOPS and longer[0][0] == "n1" and longer[-1] == ["last", 100, 101]
    assert len(extend(None, "x" * 1000, 1, 2)[0][0].encode()) == MAX_NODE_NAME_BYTES
    assert full[0][0] == "n0" and len(full) == MAX_HOPS   # the parent's trail is not changed


@pytest.fixture
def chain(short_dir):
    """source -> relay -> sink on ipc, wired in one process."""
    made = []

    def make(name, out=None, **kwargs):
        outputs = {"o": {"topic": out, "endpoint": f"ipc://{short_dir}/{out}"}} if out else {}
        node = Node(name, handle_signals=False, outputs=outputs, **kwargs)
        node.bind_outputs()
        made.append(node)
        return node

    yield make
    for node in made:
        node.close()


def _connected(pub, sub, value=0):
    for _ in range(200):
        pub.publish("o", value)
        event = sub.next_event(timeout_s=0.02)
        if event is not None:
            while sub.next_event(timeout_s=0.05) is not None:
                pass
            return
    raise AssertionError("never connected")


def test_nodes_add_their_hops_and_the_trail_follows_derived_outputs(chain, short_dir, monkeypatch):
    monkeypatch.delenv("EDGE_TRAIL", raising=False)
    source = chain("cam", "a", trail=True)
    relay = chain("pre", "b")                     # default: follows its inputs
    sink = chain("end")
    relay.subscribe("in", topic="a", endpoint=f"ipc://{short_dir}/a", queue_size=10)
    sink.subscribe("in", topic="b", endpoint=f"ipc://{short_dir}/b", queue_size=10)
    _connected(source, relay)
    _connected(relay, sink)
    source.publish("o", 1, stamp_ns=1234)
    got = relay.next_event(timeout_s=2)
    assert got.trail[0][0] == "cam" and got.trail[0][1] == 1234 and got.trail[0][2] == got.pub_ns
    relay.publish("o", got.value, stamp_ns=got.stamp_ns)          # implicit parent: `got`
    out = sink.next_event(timeout_s=2)
    assert [hop[0] for hop in out.trail] == ["cam", "pre"]
    assert out.trail[1][1] == got.recv_ns and out.trail[1][2] == out.pub_ns
    relay.timer("tick", 0.001)
    assert relay.next_event(timeout_s=2).kind == "timer"         # a timer resets the parent
    relay.publish("o", 2)
    assert sink.next_event(timeout_s=2).trail is None
    relay.publish("o", 3, parent=got)                              # explicit parent
    assert [hop[0] for hop in sink.next_event(timeout_s=2).trail] == ["cam", "pre"]


def test_trail_off_drops_it_and_env_turns_it_on(chain, short_dir, monkeypatch):
    monkeypatch.delenv("EDGE_TRAIL", raising=False)
    source = chain("cam", "c", trail=True)
    off = chain("off", "d", trail=False)
    off.subscribe("in", topic="c", endpoint=f"ipc://{short_dir}/c", queue_size=10)
    sink = chain("end")
    sink.subscribe("in", topic="d", endpoint=f"ipc://{short_dir}/d", queue_size=10)
    _connected(source, off)
    _connected(off, sink)
    source.publish("o", 1)
    off.publish("o", off.next_event(timeout_s=2).value)
    assert sink.next_event(timeout_s=2).trail is None
    monkeypatch.setenv("EDGE_TRAIL", "1")
    env_on = chain("env", "e")
    sink.subscribe("in2", topic="e", endpoint=f"ipc://{short_dir}/e", queue_size=10)
    _connected(env_on, sink)
    env_on.publish("o", 5, stamp_ns=77)
    assert sink.next_event(timeout_s=2).trail[0][:2] == ["env", 77]


def test_carried_follows_the_setting_and_the_parent():
    from messages.trail import carried

    hops = [["cam", 1, 2]]
    assert carried(None, None) == (None, None)            # follow, no parent: no trail
    assert carried(None, (None, 5)) == (None, None)        # follow, parent without one
    assert carried(None, (hops, 5)) == (hops, 5)           # follow: carried on
    assert carried(True, None) == ([], None)               # on, no parent: starts at capture
    assert carried(True, (None, 5)) == ([], 5)             # on: starts at the parent's receive
    assert carried(False, (hops, 5)) == (None, None)       # off: dropped
