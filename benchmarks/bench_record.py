"""Recording throughput for 1080p frames: raw pyzmq SUB vs Node subscriber vs `edge bag record`.

    python benchmarks/bench_record.py [--seconds 4] [--rounds 3] [--dir /tmp]

One publisher process (edge's Publisher) sends Image frames of 1920x1080x3 for --seconds,
as fast as it can (a 2 ms pause between sends; PUB drops what the subscriber cannot take);
a subscriber process counts what it receives per second. `record` is edge.bag's
Recorder writing an MCAP file to --dir (drops are what the recorder did not keep up with).
Variants are interleaved over rounds; prints medians and the record/raw and record/node ratios.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import time

import numpy as np
import zmq

TOPIC = "bench/image"
SHAPE = (1080, 1920, 3)
HWM = 16   # bounded memory: 16 frames of 6 MB per side
QUEUE_BYTES = HWM * (int(np.prod(SHAPE)) + 4096) * 5 // 4   # the same in bytes (edge.bus.hwm_for)
PAUSE_S = 0.002  # between sends: leaves the subscriber CPU on a small machine


def publisher(endpoint_q, seconds, go, done):
    from edge.bus import Publisher
    from messages import Image

    directory = tempfile.mkdtemp(prefix="ebr-", dir="/tmp")
    pub = Publisher(zmq.Context.instance(), f"ipc://{directory}/pub.sock", source="bench",
                    queue_bytes=QUEUE_BYTES)
    endpoint_q.put(pub.endpoint)
    frame = Image(np.full(SHAPE, 7, np.uint8), "bgr8", 0)
    while not go.is_set():               # slow joiner: hello until the subscriber hears one
        pub.send(TOPIC, {"hello": True})
        time.sleep(0.01)
    started, sent = time.monotonic(), 0
    while time.monotonic() - started < seconds:   # steady pressure; PUB drops what nobody takes
        pub.send(TOPIC, frame)
        sent += 1
        time.sleep(PAUSE_S)
    sent_s = time.monotonic() - started
    done.set()
    time.sleep(1.0)
    pub.close()
    endpoint_q.put((sent, sent / sent_s))


def raw_sub(endpoint, go, done, out_q):
    socket = zmq.Context.instance().socket(zmq.SUB)
    socket.setsockopt(zmq.RCVHWM, HWM)
    socket.setsockopt(zmq.SUBSCRIBE, TOPIC.encode())
    socket.connect(endpoint)
    times = []
    while not (done.is_set() and not socket.poll(300)):
        if not socket.poll(100):
            continue
        frames = socket.recv_multipart(copy=False)
        if len(frames) < 3:
            go.set()
            continue
        times.append(time.monotonic())
    out_q.put(times)


def node_sub(endpoint, go, done, out_q):
    from edge import Node

    node = Node("bench-sub", handle_signals=False)
    node.subscribe("image", topic=TOPIC, endpoint=endpoint, queue_size=HWM, queue_bytes=QUEUE_BYTES)
    times, idle = [], 0
    while not (done.is_set() and idle >= 3):
        event = node.next_event(timeout_s=0.1)
        idle = idle + 1 if event is None else 0
        if event is None:
            continue
        if isinstance(event.value, dict):
            go.set()
            continue
        times.append(time.monotonic())
    node.close()
    out_q.put(times)


def record_sub(endpoint, go, done, out_q, directory):
    from edge.bag import read_messages
    from edge.bag.record import Recorder
    from edge.bag.writer import BagWriter

    path = os.path.join(directory, f"bench-{os.getpid()}.mcap")
    writer = BagWriter(path)
    recorder = Recorder(writer, {TOPIC: endpoint}, queue_bytes=QUEUE_BYTES, handle_signals=False)
    hello = zmq.Context.instance().socket(zmq.SUB)   # tells the publisher we are connected
    hello.setsockopt(zmq.SUBSCRIBE, TOPIC.encode())
    hello.connect(endpoint)
    hello.poll(10000)
    hello.close(linger=0)
    go.set()
    quiet = {"since": None}

    def check(stats):
        if done.is_set():
            if quiet["since"] is None or stats.messages != quiet["since"][0]:
                quiet["since"] = (stats.messages, time.monotonic())
            elif time.monotonic() - quiet["since"][1] > 0.3:
                recorder.stop()

    recorder.run(progress=check, progress_s=0.05)
    recorder.close()
    writer.close()
    times = [m.log_time_ns / 1e9 for m in read_messages(path) if not isinstance(m.value, dict)]
    os.unlink(path)
    out_q.put(times)


def run(kind, seconds, directory):
    ctx = mp.get_context("spawn")
    endpoint_q, out_q, go, done = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Event()
    pub = ctx.Process(target=publisher, args=(endpoint_q, seconds, go, done))
    pub.start()
    endpoint = endpoint_q.get(timeout=30)
    target, args = {"raw": (raw_sub, ()), "node": (node_sub, ()),
                    "record": (record_sub, (directory,))}[kind]
    sub = ctx.Process(target=target, args=(endpoint, go, done, out_q, *args))
    sub.start()
    times = out_q.get(timeout=300)
    sent, pub_rate = endpoint_q.get(timeout=30)
    for proc in (sub, pub):
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")
    return {"fps": rate, "mbps": rate * np.prod(SHAPE) / 1e6, "kept": len(times) / sent,
            "pub_fps": pub_rate}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0, help="publishing time per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default="/tmp", help="where the recording is written")
    args = parser.parse_args()
    print(f"1920x1080x3 uint8 Image, {args.seconds:.0f} s x {args.rounds} rounds, cores={os.cpu_count()}, "
          f"recording to {args.dir}, HWM {HWM}")
    results = {kind: [] for kind in ("raw", "node", "record")}
    for _ in range(args.rounds):
        for kind in results:
            results[kind].append(run(kind, args.seconds, args.dir))
    print(f"{'variant':<8} {'frames/s':>9} {'MB/s':>8} {'kept':>6} {'pub frames/s':>13}")
    median = {}
    for kind, rows in results.items():
        median[kind] = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        m = median[kind]
        print(f"{kind:<8} {m['fps']:9.1f} {m['mbps']:8.0f} {m['kept']:6.0%} {m['pub_fps']:13.1f}")
    print(f"\nrecord/raw {median['record']['fps'] / median['raw']['fps']:.2f}x   "
          f"record/node {median['record']['fps'] / median['node']['fps']:.2f}x   (frames/s, medians)")


if __name__ == "__main__":
    main()
