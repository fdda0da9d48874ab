"""The per-hop trail a stream message may carry (opt-in): one hop per node it went through.

    trail = [[node, recv_ns, pub_ns], ...]    oldest hop first, at most MAX_HOPS

A hop says when `node` received the input this message was derived from (`recv_ns`; for a
node that had no input, the message's `stamp_ns`) and when it published its output
(`pub_ns`). The last hop is the message's own publisher, so its `pub_ns` equals the
header's. Pure: no I/O.
"""
from __future__ import annotations

from typing import Any, Optional

from messages.codec import DecodeError, short

MAX_HOPS = 32               # a longer trail is refused on receipt; appending keeps the newest hops
MAX_NODE_NAME_BYTES = 256   # per hop
_MAX_NS = (1 << 63) - 1
_SURELY_SHORT = MAX_NODE_NAME_BYTES // 4


def check_trail(trail: Any) -> list:
    """The trail of a received header, checked; DecodeError for anything else."""
    if type(trail) is not list:
        raise DecodeError(f"stream header 'trail' must be a list of hops, got {short(trail)}")
    if len(trail) > MAX_HOPS:
        raise DecodeError(f"stream header 'trail' has {len(trail)} hops, limit {MAX_HOPS}")
    for hop in trail:
        if (type(hop) is not list or len(hop) != 3 or type(hop[0]) is not str
                or type(hop[1]) is not int or type(hop[2]) is not int):
            raise DecodeError(f"trail hop {short(hop)} is not [node: str, recv_ns: int, pub_ns: int]")
        name = hop[0]  # a UTF-8 character is at most 4 bytes: short names need no encode
        if len(name) > _SURELY_SHORT and len(name.encode()) > MAX_NODE_NAME_BYTES:
            raise DecodeError(f"trail hop node name is longer than {MAX_NODE_NAME_BYTES} bytes")
        if not (0 <= hop[1] <= _MAX_NS and 0 <= hop[2] <= _MAX_NS):
            raise DecodeError("trail hop times must be in [0, 2**63)")
    return trail


def extend(hops: Optional[list], node: str, recv_ns: int, pub_ns: int) -> list:
    """`hops` plus this node's hop, keeping the newest MAX_HOPS (the oldest are dropped)."""
    if len(node) > _SURELY_SHORT and len(node.encode()) > MAX_NODE_NAME_BYTES:
        node = node.encode()[:MAX_NODE_NAME_BYTES].decode(errors="ignore")
    hop = [node, recv_ns, pub_ns]
    if not hops:
        return [hop]
    if len(hops) >= MAX_HOPS:
        hops = hops[len(hops) - MAX_HOPS + 1:]
    return [*hops, hop]


def carried(setting: Optional[bool], parent: Optional[tuple]) -> tuple:
    """(earlier hops or None for no trail, recv_ns of the new hop) for a publish.

    `setting`: True on, False off, None follow (a trail only when the parent has one);
    `parent`: (trail, recv_ns) of the input the value derives from, or None.
    """
    if setting is False:
        return None, None
    trail, recv_ns = parent if parent is not None else (None, None)
    if trail is not None:
        return trail, recv_ns
    return ([], recv_ns) if setting else (None, None)


def shifted(trail: list, delta_ns: int) -> list:
    """The same hops moved in time by `delta_ns` (playback re-times a recording)."""
    return [[node, max(0, recv_ns + delta_ns), max(0, pub_ns + delta_ns)]
            for node, recv_ns, pub_ns in trail]
