"""A subscriber that cannot keep up: queue_size > 1 with drop_oldest vs drop_newest vs raw pyzmq.

    python benchmarks/bench_queue.py [--rounds 3] [--seconds 2] [--queue-size 8] [--work-us 200]

A publisher process floods 64 B messages for a fixed time; the subscriber (this process)
spends `--work-us` of CPU on each message it gets. Reported per variant, interleaved over
rounds: messages delivered per second, the subscriber's CPU per delivered message beyond the
work itself (what the queue policy costs), and the age of delivered messages (now - pub_ns)
at p50, which is what drop_newest trades for its lower CPU.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import struct
import tempfile
import time

import numpy as np
import zmq


def flood(endpoint: str, seconds: float, ready) -> None:
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.bind(endpoint)
    from messages import StreamMessage, new_encoder  # the Node's own wire format, sent raw

    encoder, payload, seq = new_encoder(), np.zeros(64, np.uint8), 0
    ready.wait(20)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        seq += 1
        now = time.time_ns()
        pub.send_multipart(StreamMessage("q", payload, seq, now, now, "flood").to_frames(encoder))
    pub.close(0)


def busy(work_s: float) -> None:
    end = time.perf_counter() + work_s
    while time.perf_counter() < end:
        pass


def subscriber(kind: str, endpoint: str, queue_size: int, work_s: float, seconds: float, ready):
    ages, delivered = [], 0
    if kind == "raw":
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"q")
        sub.connect(endpoint)
        get = lambda: (sub.poll(200) and sub.recv_multipart()) or None  # noqa: E731
        stamp = lambda frames: struct.unpack_from("<q", frames[1], 0)[0]  # noqa: E731
    else:
        from edge import Node

        node = Node("queue-sub", handle_signals=False)
        node.subscribe("q", endpoint=endpoint, queue_size=queue_size, overflow=kind)
        get = lambda: node.next_event(timeout_s=0.2)  # noqa: E731
    time.sleep(0.3)
    ready.set()
    start_cpu, start = time.process_time(), time.monotonic()
    while time.monotonic() - start < seconds + 0.5:
        item = get()
        if item is None:
            if delivered:
                break
            continue
        ages.append(time.time_ns() - (item.pub_ns if kind != "raw" else 0))
        delivered += 1
        busy(work_s)
    cpu = time.process_time() - start_cpu
    elapsed = time.monotonic() - start
    overhead_us = (cpu - delivered * work_s) / max(1, delivered) * 1e6
    age_ms = statistics.median(ages) / 1e6 if kind != "raw" else float("nan")
    return delivered / elapsed, overhead_us, age_ms


def run(kind, queue_size, work_s, seconds):
    ctx = mp.get_context("spawn")
    endpoint = f"ipc://{tempfile.mktemp(prefix='eq-', suffix='.sock', dir='/tmp')}"
    ready = ctx.Event()
    pub = ctx.Process(target=flood, args=(endpoint, seconds, ready))
    pub.start()
    try:
        return subscriber(kind, endpoint, queue_size, work_s, seconds, ready)
    finally:
        pub.join(timeout=seconds + 10)
        if pub.is_alive():
            pub.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--queue-size", type=int, default=8)
    parser.add_argument("--work-us", type=float, default=200)
    args = parser.parse_args()
    print(f"loadavg={os.getloadavg()} queue_size={args.queue_size} work={args.work_us} us/msg")
    kinds = ("raw", "drop_oldest", "drop_newest")
    results = {k: [] for k in kinds}
    for index in range(args.rounds):
        for kind in kinds[index % 3:] + kinds[:index % 3]:
            results[kind].append(run(kind, args.queue_size, args.work_us / 1e6, args.seconds))
    for kind, runs in results.items():
        rate, overhead, age = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"{kind:<12} {rate:8.0f} delivered/s   {overhead:7.1f} us CPU/delivered beyond the work"
              f"   age p50 {age:8.2f} ms")
    print(f"loadavg={os.getloadavg()}")


if __name__ == "__main__":
    main()
