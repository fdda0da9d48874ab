"""A stalled 1080p subscriber: what it costs its publisher, the other subscribers and itself.

    python benchmarks/bench_stall.py [--rounds 2] [--seconds 6] [--rate-hz 30] [--quick]

Three processes per run, over ipc: a publisher of 1920x1080x3 frames paced at --rate-hz, a
healthy latest-only subscriber, and (in the "stalled" scenario) a subscriber that reads a few
frames, stops reading for the rest of the run, then takes one frame and reports its age.
Variants: raw pyzmq (PUB/SUB, ZeroMQ's default HWM of 1000 messages) and edge (Node API with
its byte budgets), each without and with the stalled subscriber, interleaved over rounds.
Raw pyzmq with a stalled subscriber grows by gigabytes: its publisher stops publishing when
its RSS passes --raw-cap-mb (the stalled subscriber likewise ends its stall), and the table
marks that run. --rate-hz 0 publishes as fast as possible.

Columns: publisher rate (msgs/s sent), healthy subscriber rate (msgs/s received), peak RSS
(VmHWM) of the publisher and the stalled subscriber, and the age of the first frame the
stalled subscriber gets after its stall.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import struct
import tempfile
import time

import numpy as np
import zmq

SHAPE = (1080, 1920, 3)
TOPIC = "bench/frames"
WARMUP_FRAMES = 5  # the stalled subscriber reads these first, as a real reader would


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- publishers ----------------------------------------------------------------------------------
def new_frame(index: int) -> np.ndarray:
    """A fresh, written frame each time, as a camera delivers (a shared buffer would hide
    what queued messages cost)."""
    return np.full(SHAPE, index % 251, np.uint8)


def publisher(kind, endpoint, seconds, rate_hz, readers, go, cap_mb, out):
    if kind == "raw":
        socket = zmq.Context.instance().socket(zmq.PUB)
        socket.bind(endpoint)
        topic = TOPIC.encode()

        def send(index):
            socket.send_multipart([topic, struct.pack("<q", time.time_ns()), new_frame(index)],
                                  copy=False)
        close = lambda: socket.close(linger=0)  # noqa: E731
    else:
        from edge import Node
        from messages import Image

        node = Node("bench-pub", outputs={"frames": {"topic": TOPIC, "endpoint": endpoint}},
                    handle_signals=False)
        node.bind_outputs()
        send = lambda index: node.publish("frames", Image(new_frame(index)))  # noqa: E731
        close = node.close
    while not all(ready.is_set() for ready in readers):  # until every reader has frames
        send(0)
        time.sleep(0.02)
    go.set()
    sent, capped, start = 0, False, time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        delay = start + sent / rate_hz - time.monotonic() if rate_hz > 0 else 0
        if delay > 0:
            time.sleep(delay)
        if rss_mb() > cap_mb:
            capped = True
            break
        send(sent)
        sent += 1
    out.put(("pub", {"rate": sent / max(elapsed, 1e-9), "rss_mb": peak_rss_mb(), "capped": capped}))
    time.sleep(0.5)
    close()


# -- subscribers ---------------------------------------------------------------------------------
def _raw_reader(endpoint):
    socket = zmq.Context.instance().socket(zmq.SUB)
    socket.setsockopt(zmq.SUBSCRIBE, TOPIC.encode())
    socket.connect(endpoint)

    def read(timeout_s):
        if not socket.poll(int(timeout_s * 1000)):
            return None
        frames = socket.recv_multipart(copy=False)
        return struct.unpack("<q", frames[1].bytes)[0]
    return read, lambda: socket.close(linger=0)


def _node_reader(endpoint):
    from edge import Node

    node = Node("bench-sub", handle_signals=False)
    node.subscribe("frames", topic=TOPIC, endpoint=endpoint)

    def read(timeout_s):
        event = node.next_event(timeout_s=timeout_s)
        return event.pub_ns if event is not None else None
    return read, node.close


def subscriber(kind, role, endpoint, seconds, ready, go, cap_mb, out):
    read, close = (_raw_reader if kind == "raw" else _node_reader)(endpoint)
    for _ in range(WARMUP_FRAMES if role == "stalled" else 1):
        while read(0.1) is None:
            pass
    ready.set()
    go.wait(60)
    if role == "healthy":
        count, start = 0, time.monotonic()
        while time.monotonic() - start < seconds:
            count += read(0.1) is not None
        out.put((role, {"rate": count / seconds, "rss_mb": peak_rss_mb()}))
    else:
        stall_end, capped = time.monotonic() + seconds - 1.0, False
        while time.monotonic() < stall_end and not capped:  # reads nothing meanwhile
            time.sleep(0.05)
            capped = rss_mb() > cap_mb
        pub_ns = read(5.0)
        age_s = (time.time_ns() - pub_ns) / 1e9 if pub_ns is not None else float("nan")
        out.put((role, {"age_s": age_s, "rss_mb": peak_rss_mb(), "capped": capped}))
    close()


def run(kind, stalled, seconds, rate_hz, cap_mb):
    ctx = mp.get_context("spawn")
    endpoint = f"ipc://{tempfile.mkdtemp(prefix='es-', dir='/tmp')}/frames.sock"
    go, out = ctx.Event(), ctx.Queue()
    roles = ["healthy"] + (["stalled"] if stalled else [])
    readies = [ctx.Event() for _ in roles]
    procs = [ctx.Process(target=subscriber,
                         args=(kind, role, endpoint, seconds, ready, go, cap_mb, out))
             for role, ready in zip(roles, readies)]
    procs.append(ctx.Process(target=publisher,
                             args=(kind, endpoint, seconds, rate_hz, readies, go, cap_mb, out)))
    for proc in procs:
        proc.start()
    try:
        return dict(out.get(timeout=seconds + 60) for _ in range(len(procs)))
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rate-hz", type=float, default=30.0)
    parser.add_argument("--raw-cap-mb", type=float, default=1500.0)
    parser.add_argument("--quick", action="store_true", help="one round of 4 s")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 4.0
    pace = f"at {args.rate_hz:.0f} Hz" if args.rate_hz > 0 else "unpaced"
    print(f"1920x1080x3 frames {pace} for {args.seconds:.0f} s, ipc, "
          f"cores={os.cpu_count()} pyzmq={zmq.__version__} libzmq={zmq.zmq_version()}")
    variants = [(kind, stalled) for kind in ("raw", "edge") for stalled in (False, True)]
    results: dict = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant in variants:
            results[variant].append(run(*variant, args.seconds, args.rate_hz, args.raw_cap_mb))
    header = (f"{'impl':<5} {'scenario':<8} {'pub msg/s':>9} {'healthy msg/s':>13} "
              f"{'pub RSS MB':>10} {'stalled RSS MB':>14} {'first age s':>11}")
    print(header + "\n" + "-" * len(header))
    summary = {}
    for (kind, stalled), runs in results.items():
        pub = np.median([r["pub"]["rate"] for r in runs])
        healthy = np.median([r["healthy"]["rate"] for r in runs])
        pub_rss = max(r["pub"]["rss_mb"] for r in runs)
        capped = "+" if any(r["pub"]["capped"] for r in runs) else " "
        stall_rss = max(r["stalled"]["rss_mb"] for r in runs) if stalled else float("nan")
        capped_sub = "+" if stalled and any(r["stalled"]["capped"] for r in runs) else " "
        age = np.median([r["stalled"]["age_s"] for r in runs]) if stalled else float("nan")
        summary[(kind, stalled)] = (pub, healthy)
        print(f"{kind:<5} {'stalled' if stalled else 'healthy':<8} {pub:9.1f} {healthy:13.1f} "
              f"{pub_rss:9.0f}{capped} {stall_rss:13.0f}{capped_sub} {age:11.2f}")
    print("(+ : stopped at --raw-cap-mb, the stalled reader then read at once; RSS kept growing)")
    for kind in ("raw", "edge"):
        (pub0, healthy0), (pub1, healthy1) = summary[(kind, False)], summary[(kind, True)]
        print(f"{kind}: with a stalled subscriber, publisher rate x{pub1 / pub0:.2f}, "
              f"healthy subscriber rate x{healthy1 / healthy0:.2f}")
    edge, raw = summary[("edge", True)], summary[("raw", True)]
    print(f"edge/raw with a stalled subscriber: healthy subscriber rate x{edge[1] / raw[1]:.2f}")


if __name__ == "__main__":
    main()
