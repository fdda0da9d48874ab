"""CPU per message on the Node API's hot path against raw pyzmq, in one process (64 B, 1080p).

    python benchmarks/bench_hotpath.py [--rounds 5] [--count 20000]

Latency on a shared machine swings with the scheduler; CPU time per message in one
process does much less, so this is where per-message Python work shows. Each round times
(interleaved) raw pyzmq send+recv, Node publish+next_event, and the pieces of the latter:
encode, publish, drain+decode. Pairs of PUB/SUB sockets over ipc; nothing is dropped
because batches stay below the HWM.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import zmq

BATCH = 200  # below the HWM, so a batch is sent whole and then read whole


def raw_pair(context, path):
    """A raw PUB/SUB pair on ipc `path`, past the slow-joiner window."""
    pub, sub = context.socket(zmq.PUB), context.socket(zmq.SUB)
    pub.bind(f"ipc://{path}")
    sub.setsockopt(zmq.SUBSCRIBE, b"t")
    sub.connect(f"ipc://{path}")
    while True:  # slow joiner
        pub.send_multipart([b"t", b"x"])
        if sub.poll(50):
            while sub.poll(50):
                sub.recv_multipart()
            return pub, sub


def raw(count, context, path, shape=(64,), batch=BATCH):
    pub, sub = raw_pair(context, path)
    payload, stamp = np.zeros(shape, np.uint8), (0).to_bytes(8, "little")
    big = payload.nbytes >= 1 << 16
    start = time.process_time()
    for _ in range(count // batch):
        for _ in range(batch):
            pub.send_multipart([b"t", stamp, payload], copy=not big)
        for _ in range(batch):
            sub.poll(1000)
            frames = sub.recv_multipart(copy=not big)
            np.frombuffer(frames[2], np.uint8)
    elapsed = time.process_time() - start
    pub.close(0)
    sub.close(0)
    return elapsed / count * 1e6


def node_pair_joined(pub, sub, payload) -> None:
    """Publish on output "o" until `sub` receives, then drain: past the slow-joiner window.

    `payload` is a value or a function returning one (a loaned frame: warming up a shm
    output with a plain 6 MB array would size its HWM for 6 MB messages, and the tiny
    frame descriptors that follow would then overrun it)."""
    while True:
        pub.publish("o", payload() if callable(payload) else payload)
        if sub.next_event(timeout_s=0.05) is not None:
            while sub.next_event(timeout_s=0.05) is not None:
                pass
            return


def node(count, context, path, shape=(64,), batch=BATCH, transport="zmq"):
    from edge import Node

    pub = Node("hot-pub", handle_signals=False, context=context, outputs={"o": {
        "topic": "t", "endpoint": f"ipc://{path}", "transport": transport}})
    pub.bind_outputs()
    sub = Node("hot-sub", handle_signals=False, context=context)
    sub.subscribe("i", topic="t", endpoint=f"ipc://{path}", queue_size=batch, transport=transport)
    payload = np.zeros(shape, np.uint8)
    frame = (lambda: pub.loan(shape, np.uint8)) if transport == "shm" else (lambda: payload)
    node_pair_joined(pub, sub, frame)
    start = time.process_time()
    for _ in range(count // batch):
        for _ in range(batch):
            pub.publish("o", frame())
        for _ in range(batch):
            if sub.next_event(timeout_s=1.0) is None:
                raise RuntimeError("message lost")
    elapsed = time.process_time() - start
    pub.close()
    sub.close()
    return elapsed / count * 1e6


def _stream_encoder():
    """What publishers use (before new_stream_encoder existed: new_encoder), so the same
    script measures an older checkout too."""
    import messages

    return getattr(messages, "new_stream_encoder", messages.new_encoder)()


def encode(count, *_):
    from messages import StreamMessage

    encoder, payload = _stream_encoder(), np.zeros(64, np.uint8)
    start = time.process_time()
    for seq in range(count):
        StreamMessage("t", payload, seq, 1, 1, "hot-pub").to_frames(encoder)
    return (time.process_time() - start) / count * 1e6


def decode(count, *_):
    from messages import StreamMessage

    frames = StreamMessage("t", np.zeros(64, np.uint8), 1, 1, 1, "hot-pub").to_frames(_stream_encoder())
    frames = [zmq.Frame(f) for f in frames]
    start = time.process_time()
    for _ in range(count):
        StreamMessage.from_frames(frames)
    return (time.process_time() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=20000)
    args = parser.parse_args()
    context, workdir = zmq.Context.instance(), tempfile.mkdtemp(prefix="eh-", dir="/tmp")
    hd = {"shape": (1080, 1920, 3), "batch": 2}  # 2 in flight: within the pool's 4 slots
    big = max(4, args.count // 400)
    cases = {"raw pyzmq send+recv": raw, "Node publish+next_event": node,
             "  encode (to_frames)": encode, "  decode (from_frames)": decode,
             "1080p raw pyzmq": lambda n, *a: raw(big, *a, **hd),
             "1080p Node": lambda n, *a: node(big, *a, **hd),
             "1080p Node shm (loan)": lambda n, *a: node(big, *a, **hd, transport="shm")}
    results = {name: [] for name in cases}
    print(f"loadavg={os.getloadavg()} count={args.count} rounds={args.rounds}")
    for index in range(args.rounds):
        for name, case in cases.items():
            results[name].append(case(args.count, context, f"{workdir}/{index}-{len(name)}.sock"))
    ratio = [n / r for n, r in zip(results["Node publish+next_event"], results["raw pyzmq send+recv"])]
    for name, values in results.items():
        print(f"{name:<26} {statistics.median(values):7.2f} us CPU/msg  "
              f"(min {min(values):.2f}, max {max(values):.2f})")
    print(f"64 B Node/raw CPU per message: min/median/max "
          f"{min(ratio):.2f}/{statistics.median(ratio):.2f}/{max(ratio):.2f}")
    shm = [s / z for s, z in zip(results["1080p Node shm (loan)"], results["1080p Node"])]
    print(f"1080p shm/zmq-copy CPU per message: min/median/max "
          f"{min(shm):.3f}/{statistics.median(shm):.3f}/{max(shm):.3f}")
    print(f"loadavg={os.getloadavg()}")


if __name__ == "__main__":
    main()
