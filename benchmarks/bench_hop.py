"""Where one 64 B hop's latency goes: sender work, the wake-up, receiver work (raw vs Node).

    python benchmarks/bench_hop.py [--rounds 5] [--count 2000] [--queue-size 1]

A sender and a receiver process play ping/ack with one message in flight. Both stamp
time.perf_counter_ns() (CLOCK_MONOTONIC, one clock for every process on the host):
t0 before the publish call, t1 after it returns, t2 when the receiver's poll returns,
t3 when the value is in the receiver's hands (after decoding). So
  send = t1 - t0    (encode and the send calls)
  wake = t2 - t1    (libzmq's I/O threads, the kernel, the scheduler)
  recv = t3 - t2    (reads, decoding, the event)
Medians per round; raw pyzmq and the Node API alternate over rounds.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import zmq

_STAMP = struct.Struct("<q")
clock = time.perf_counter_ns
RECEIVER_SCRIPT = None  # the script the receiver runs (this one)


def raw_receiver(paths: dict, count: int) -> list:
    context = zmq.Context.instance()
    sub, ack = context.socket(zmq.SUB), context.socket(zmq.PUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"d")
    sub.connect(f"ipc://{paths['data']}")
    ack.bind(f"ipc://{paths['ack']}")
    stamps = []
    while len(stamps) < count:
        if not sub.poll(10_000):
            break
        t2 = clock()
        frames = sub.recv_multipart(copy=False)
        np.frombuffer(frames[2].buffer, np.uint8)
        seq = _STAMP.unpack(frames[1].bytes)[0]
        t3 = clock()
        ack.send(_STAMP.pack(seq))
        if seq >= 0:
            stamps.append((seq, t2, t3))
    return stamps


def raw_sender(paths: dict, count: int) -> list:
    context = zmq.Context.instance()
    pub, ack = context.socket(zmq.PUB), context.socket(zmq.SUB)
    pub.bind(f"ipc://{paths['data']}")
    ack.setsockopt(zmq.SUBSCRIBE, b"")
    ack.connect(f"ipc://{paths['ack']}")
    payload, stamps = np.zeros(64, np.uint8), []
    while True:  # hellos (seq -1) until the receiver answers
        pub.send_multipart([b"d", _STAMP.pack(-1), payload])
        if ack.poll(50):
            ack.recv()
            break
    for seq in range(count):
        t0 = clock()
        pub.send_multipart([b"d", _STAMP.pack(seq), payload])
        t1 = clock()
        stamps.append((seq, t0, t1))
        if not ack.poll(10_000):
            break
        ack.recv()
    return stamps


def node_receiver(paths: dict, count: int, queue_size: int = 1) -> list:
    from edge import Node

    polled = []
    poll = zmq.Poller.poll

    def timed_poll(self, timeout=None):
        found = poll(self, timeout)
        polled.append(clock())
        return found

    zmq.Poller.poll = timed_poll
    node = Node("hop-recv", handle_signals=False, outputs={"ack": {
        "topic": "a", "endpoint": f"ipc://{paths['ack']}"}})
    node.bind_outputs()
    node.subscribe("d", topic="d", endpoint=f"ipc://{paths['data']}", queue_size=queue_size)
    stamps = []
    while len(stamps) < count:
        event = node.next_event(timeout_s=10)
        if event is None:
            break
        t3 = clock()
        seq = int(event.value[0])
        node.publish("ack", seq)
        if seq >= 0 and event.value[1] == 1:
            stamps.append((seq, polled[-1], t3))
    node.close()
    return stamps


def node_sender(paths: dict, count: int) -> list:
    from edge import Node

    node = Node("hop-send", handle_signals=False, outputs={"d": {
        "topic": "d", "endpoint": f"ipc://{paths['data']}", "transport": "zmq"}})
    node.bind_outputs()
    node.subscribe("a", topic="a", endpoint=f"ipc://{paths['ack']}")
    payload, stamps = np.zeros(8, np.int64), []
    payload[0] = -1
    while node.next_event(timeout_s=0.05) is None:  # hellos until the receiver answers
        node.publish("d", payload)
    payload[1] = 1
    for seq in range(count):
        payload[0] = seq
        t0 = clock()
        node.publish("d", payload)
        t1 = clock()
        stamps.append((seq, t0, t1))
        if node.next_event(timeout_s=10) is None:
            break
    node.close()
    return stamps


ROLES = {"raw": (raw_sender, raw_receiver), "node": (node_sender, node_receiver)}


def run(variant: str, count: int, queue_size: int = 1) -> dict:
    directory = tempfile.mkdtemp(prefix="hop-", dir="/tmp")
    paths = {"data": f"{directory}/d", "ack": f"{directory}/a"}
    out = f"{directory}/recv.json"
    receiver = subprocess.Popen([sys.executable, RECEIVER_SCRIPT or __file__, "--role", f"{variant}:recv",
                                 "--count", str(count), "--paths", json.dumps(paths), "--out", out,
                                 "--queue-size", str(queue_size)])
    try:
        sent = {seq: (t0, t1) for seq, t0, t1 in ROLES[variant][0](paths, count)}
        receiver.wait(timeout=60)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    got = json.load(open(out))
    stages = {"send": [], "wake": [], "recv": []}
    for seq, t2, t3 in got:
        if seq in sent:
            t0, t1 = sent[seq]
            stages["send"].append(t1 - t0)
            stages["wake"].append(t2 - t1)
            stages["recv"].append(t3 - t2)
    return {name: statistics.median(values) / 1e3 for name, values in stages.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--queue-size", type=int, default=1,
                        help="the Node receiver's input queue_size (1: latest-only)")
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:  # the receiver process
        variant = args.role.split(":")[0]
        receive = ROLES[variant][1]
        extra = {"queue_size": args.queue_size} if variant == "node" else {}
        stamps = receive(json.loads(args.paths), args.count, **extra)
        json.dump(stamps, open(args.out, "w"))
        os._exit(0)  # sockets closed with the process: nothing to linger for
    print(f"loadavg={os.getloadavg()} rounds={args.rounds} count={args.count} "
          f"queue_size={args.queue_size}")
    results: dict = {name: [] for name in ROLES}
    for index in range(args.rounds):
        for variant in (list(ROLES) if index % 2 == 0 else list(ROLES)[::-1]):
            results[variant].append(run(variant, args.count, args.queue_size))
    print(f"{'variant':<8} {'send us':>8} {'wake us':>8} {'recv us':>8} {'total us':>9}   (median of round medians)")
    for variant, rounds in results.items():
        med = {k: statistics.median(r[k] for r in rounds) for k in ("send", "wake", "recv")}
        print(f"{variant:<8} {med['send']:8.1f} {med['wake']:8.1f} {med['recv']:8.1f} "
              f"{sum(med.values()):9.1f}")
    print(f"loadavg={os.getloadavg()}")


if __name__ == "__main__":
    main()
