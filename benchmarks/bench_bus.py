"""Raw pyzmq multipart vs the Node API, publisher and subscriber in separate processes.

    python benchmarks/bench_bus.py [--transport ipc|tcp] [--quick]

Latency: paced messages, one-way time from publish to delivery (both processes read
time.time_ns on one host). Throughput: the publisher sends as fast as it can, the
subscriber counts what it receives per second. Prints a table and the Node/raw ratios.
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

PAYLOADS = {"64 B": (64,), "640x480x3": (480, 640, 3), "1920x1080x3": (1080, 1920, 3)}
TOPIC = "bench/data"
HWM = 1000


def _endpoint(transport: str) -> str:
    if transport == "tcp":
        return "tcp://127.0.0.1:{port}"
    return f"ipc://{tempfile.mkdtemp(prefix='eb-', dir='/tmp')}/bus.sock"


# -- raw pyzmq ---------------------------------------------------------------------------------
def raw_pub(endpoint, shape, count, period_s, ready, go, port_q):
    socket = zmq.Context.instance().socket(zmq.PUB)
    socket.setsockopt(zmq.SNDHWM, HWM)
    socket.bind(endpoint.format(port=0) if "{port}" in endpoint else endpoint)
    port_q.put(socket.getsockopt_string(zmq.LAST_ENDPOINT))
    payload = np.zeros(shape, np.uint8)
    topic = TOPIC.encode()
    while not go.is_set():  # slow joiner: keep saying hello until the subscriber hears it
        socket.send_multipart([topic, struct.pack("<q", -1), payload], copy=False)
        time.sleep(0.01)
    _paced(lambda: socket.send_multipart([topic, struct.pack("<q", time.time_ns()), payload],
                                         copy=payload.nbytes < 65536), count, period_s)
    time.sleep(0.5)
    socket.close(linger=0)


def raw_sub(endpoint, count, timeout_s, go, out_q):
    socket = zmq.Context.instance().socket(zmq.SUB)
    socket.setsockopt(zmq.RCVHWM, HWM)
    socket.setsockopt(zmq.SUBSCRIBE, TOPIC.encode())
    socket.connect(endpoint)
    topic, latencies, deadline = TOPIC.encode(), [], time.monotonic() + timeout_s
    while len(latencies) < count and time.monotonic() < deadline:
        if not socket.poll(100):
            continue
        frames = socket.recv_multipart(copy=False)
        now = time.time_ns()
        if frames[0].bytes != topic:
            continue
        sent = struct.unpack("<q", frames[1].bytes)[0]
        if sent < 0:
            go.set()
            continue
        np.frombuffer(frames[2].buffer, np.uint8)
        latencies.append((now - sent, time.monotonic()))
    out_q.put(latencies)


# -- Node API ------------------------------------------------------------------------------------
def node_pub(endpoint, shape, count, period_s, ready, go, port_q):
    from edge import Node

    node = Node("bench-pub", outputs={"data": {"topic": TOPIC,
                                               "endpoint": endpoint.format(port="*")}},
                handle_signals=False)
    node.bind_outputs()
    port_q.put(node.endpoints[TOPIC])
    payload = np.zeros(shape, np.uint8)
    while not go.is_set():
        node.publish("data", {"hello": True})
        time.sleep(0.01)
    _paced(lambda: node.publish("data", payload), count, period_s)
    time.sleep(0.5)
    node.close()


def node_sub(endpoint, count, timeout_s, go, out_q, queue_size=1):
    from edge import Node

    node = Node("bench-sub", handle_signals=False)
    node.subscribe("data", topic=TOPIC, endpoint=endpoint, queue_size=queue_size)
    latencies, deadline = [], time.monotonic() + timeout_s
    while len(latencies) < count and time.monotonic() < deadline:
        event = node.next_event(timeout_s=0.1)
        if event is None:
            continue
        now = time.time_ns()
        if isinstance(event.value, dict):
            go.set()
            continue
        latencies.append((now - event.pub_ns, time.monotonic()))
    node.close()
    out_q.put(latencies)


def _paced(send, count, period_s):
    start = time.monotonic()
    for i in range(count):
        if period_s:
            delay = start + i * period_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        send()


def run(kind, transport, shape, count, period_s, queue_size):
    ctx = mp.get_context("spawn")
    go, ready, port_q, out_q = ctx.Event(), ctx.Event(), ctx.Queue(), ctx.Queue()
    pub_fn, sub_fn = (raw_pub, raw_sub) if kind == "raw" else (node_pub, node_sub)
    pub = ctx.Process(target=pub_fn, args=(_endpoint(transport), shape, count, period_s, ready, go, port_q))
    pub.start()
    endpoint = port_q.get(timeout=20)
    sub_args = (endpoint, count, 60, go, out_q) + ((queue_size,) if kind == "node" else ())
    sub = ctx.Process(target=sub_fn, args=sub_args)
    sub.start()
    samples = out_q.get(timeout=120)
    for proc in (sub, pub):
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
    return samples


def summarise(samples, nbytes):
    lat = np.array([s[0] for s in samples]) / 1e3
    times = [s[1] for s in samples]
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    rate = (len(times) - 1) / span if span else float("nan")
    return {"p50_us": float(np.percentile(lat, 50)), "p99_us": float(np.percentile(lat, 99)),
            "msgs": rate, "gbps": rate * nbytes / 1e9, "n": len(samples)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=["ipc", "tcp"], default="ipc")
    parser.add_argument("--quick", action="store_true", help="fewer messages")
    args = parser.parse_args()
    scale = 0.25 if args.quick else 1.0
    print(f"transport={args.transport} cores={os.cpu_count()} pyzmq={zmq.__version__} "
          f"libzmq={zmq.zmq_version()}")
    header = f"{'payload':<12} {'impl':<5} {'p50 us':>9} {'p99 us':>9} {'msgs/s':>10} {'GB/s':>7}"
    rows, ratios = [header, "-" * len(header)], []
    for label, shape in PAYLOADS.items():
        nbytes = int(np.prod(shape))
        big = nbytes > 1 << 20
        lat_count = int((300 if big else 3000) * scale)
        thr_count = int((300 if big else 20000) * scale)
        period = 0.02 if big else 0.001
        result = {}
        for kind in ("raw", "node"):
            latency = summarise(run(kind, args.transport, shape, lat_count, period, 1), nbytes)
            flood = summarise(run(kind, args.transport, shape, thr_count, 0, 1000), nbytes)
            result[kind] = {**latency, "msgs": flood["msgs"], "gbps": flood["gbps"]}
            r = result[kind]
            rows.append(f"{label:<12} {kind:<5} {r['p50_us']:9.1f} {r['p99_us']:9.1f} "
                        f"{r['msgs']:10.0f} {r['gbps']:7.2f}")
        raw, node = result["raw"], result["node"]
        ratios.append(f"{label:<12} p50 node/raw {node['p50_us'] / raw['p50_us']:.2f}x   "
                      f"p99 {node['p99_us'] / raw['p99_us']:.2f}x   "
                      f"throughput node/raw {node['msgs'] / raw['msgs']:.2f}x")
    print("\n".join(rows))
    print("\nratios (targets: 64 B p50 <= 1.25x; 1080p throughput >= 0.85x, p50 <= 1.2x)")
    print("\n".join(ratios))


if __name__ == "__main__":
    main()
