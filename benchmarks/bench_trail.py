"""CPU per message with the per-hop trail off and on, against raw pyzmq (64 B and VGA).

    python benchmarks/bench_trail.py [--rounds 7] [--count 20000]

One process, PUB/SUB pairs over ipc, as in bench_hotpath.py: each variant times publish +
next_event (send + recv for raw pyzmq) of `count` messages in batches below the HWM.
Variants, interleaved in every round (in rotated order, after one dropped warm-up round): raw pyzmq; a Node with the trail off; with the trail
on at the publisher (a one-hop trail: the source's); and a publisher that carries on a
4-hop trail from its parent (what the fourth node of a pipeline sends); and the codec alone
(to_frames + from_frames) with no trail, 1 hop and 4 hops: the best batch of 200 per round,
in wall time, so a round where the scheduler took the CPU away does not count.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import zmq

from bench_hotpath import node_pair_joined, raw_pair

BATCH = 100   # messages in flight: below the HWM (for VGA: 64 MiB / 1.15 MB = 58)
BIG_BATCH = 20
CODEC_BATCH = 200


def _batch(shape) -> int:
    return BATCH if np.prod(shape) < 1 << 16 else BIG_BATCH


def raw(count, context, path, shape):
    pub, sub = raw_pair(context, path)
    payload, header = np.zeros(shape, np.uint8), b"\x00" * 40
    big, batch = payload.nbytes >= 1 << 16, _batch(shape)
    start = time.process_time()
    for _ in range(count // batch):
        for _ in range(batch):
            pub.send_multipart([b"t", header, payload], copy=not big)
        for _ in range(batch):
            sub.poll(1000)
            np.frombuffer(sub.recv_multipart(copy=not big)[2], np.uint8)
    elapsed = time.process_time() - start
    pub.close(0)
    sub.close(0)
    return elapsed / count * 1e6


def node(count, context, path, shape, trail=None, hops=0):
    from edge import Node
    from edge.node import Event

    pub = Node("trail-pub", handle_signals=False, context=context, trail=trail,
               outputs={"o": {"topic": "t", "endpoint": f"ipc://{path}"}})
    pub.bind_outputs()
    sub = Node("trail-sub", handle_signals=False, context=context, trail=False)
    batch = _batch(shape)
    sub.subscribe("i", topic="t", endpoint=f"ipc://{path}", queue_size=batch)
    payload = np.zeros(shape, np.uint8)
    now = time.time_ns()
    parent = Event("input", "i", trail=[[f"node{i}", now, now] for i in range(hops - 1)],
                   recv_ns=now) if hops else None
    node_pair_joined(pub, sub, payload)
    start = time.process_time()
    for _ in range(count // batch):
        for _ in range(batch):
            pub.publish("o", payload, parent=parent)
        for _ in range(batch):
            event = sub.next_event(timeout_s=1.0)
            if event is None or (trail or hops) and len(event.trail) != max(1, hops):
                raise RuntimeError(f"message lost or trail missing: {event}")
    elapsed = time.process_time() - start
    pub.close()
    sub.close()
    return elapsed / count * 1e6


def codec(count, context, path, shape, hops=0):
    """encode (to_frames) + decode (from_frames) only: the trail's own cost, without sockets."""
    from messages import StreamMessage, new_encoder
    from messages.trail import extend

    encoder, payload, trail = new_encoder(), np.zeros(shape, np.uint8), None
    for index in range(hops):
        trail = extend(trail, f"node{index}", 1, 2)
    best = float("inf")
    for first in range(0, count, CODEC_BATCH):   # the best batch: preemption filtered out
        start = time.perf_counter()
        for seq in range(first, first + CODEC_BATCH):
            frames = StreamMessage("t", payload, seq, 1, 2, "node", trail).to_frames(encoder)
            StreamMessage.from_frames(frames)
        best = min(best, time.perf_counter() - start)
    return best / CODEC_BATCH * 1e6


def _summary(name, values):
    unit = "us/msg (best batch)" if name.startswith("codec") else "us CPU/msg"
    return (f"{name:<30} {statistics.median(values):8.2f} {unit}  "
            f"(min {min(values):.2f}, max {max(values):.2f})")


def _ratio(label, on, off):
    ratio = [a / b for a, b in zip(on, off)]
    return (f"{label:<44} min/median/max {min(ratio):.3f}/{statistics.median(ratio):.3f}/"
            f"{max(ratio):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=20000)
    args = parser.parse_args()
    context, workdir = zmq.Context.instance(), tempfile.mkdtemp(prefix="etb-", dir="/tmp")
    sizes = {"64 B": ((64,), args.count // BATCH * BATCH), "VGA": ((480, 640, 3), max(BIG_BATCH, args.count // 20 // BIG_BATCH * BIG_BATCH))}
    variants = {"raw pyzmq": lambda *a: raw(*a), "Node trail off": lambda *a: node(*a),
                "Node trail on (1 hop)": lambda *a: node(*a, trail=True),
                "Node trail on (4 hops)": lambda *a: node(*a, hops=4),
                "codec trail off": codec, "codec trail on (1 hop)": lambda *a: codec(*a, hops=1),
                "codec trail on (4 hops)": lambda *a: codec(*a, hops=4)}
    results = {(size, name): [] for size in sizes for name in variants}
    print(f"loadavg={os.getloadavg()} count={args.count} rounds={args.rounds}")
    names = list(variants)
    for index in range(-1, args.rounds):   # round -1 warms up (imports, allocator) and is dropped
        for size, (shape, count) in sizes.items():
            order = names[index % len(names):] + names[:index % len(names)]   # rotate: no variant
            for name in order:                                                 # always goes first
                variant = variants[name]
                path = f"{workdir}/{index}-{len(results)}-{len(name)}-{shape[0]}.sock"
                value = variant(count, context, path, shape)
                if index >= 0:
                    results[(size, name)].append(value)
    for size in sizes:
        print(f"-- {size}")
        for name in variants:
            print(_summary(name, results[(size, name)]))
        off = results[(size, "Node trail off")]
        print(_ratio(f"{size} trail on (1 hop) / off", results[(size, "Node trail on (1 hop)")], off))
        print(_ratio(f"{size} trail on (4 hops) / off", results[(size, "Node trail on (4 hops)")], off))
        print(_ratio(f"{size} trail off / raw pyzmq", off, results[(size, "raw pyzmq")]))
        off = results[(size, "codec trail off")]
        for hops in ("1 hop", "4 hops"):
            print(_ratio(f"{size} codec trail on ({hops}) / off",
                         results[(size, f"codec trail on ({hops})")], off))
    print(f"loadavg={os.getloadavg()}")


if __name__ == "__main__":
    main()
