"""ipc vs tcp vs tcp+CURVE through the edge bus (Publisher -> Input), in one run.

    python benchmarks/bench_tcp.py [--quick] [--no-netns] [--rounds N]

Publisher and subscriber are separate processes. As root they run in two network
namespaces joined by a veth pair (10.77.0.1 -> 10.77.0.2, made and removed here), so
tcp crosses a real (virtual) link; otherwise both use loopback. ipc is a unix socket
either way. Latency: paced messages, publish -> delivery (one kernel clock). Throughput:
the publisher sends as fast as it can; msgs/s is what the subscriber received. Variants
are interleaved over rounds; ratios are to ipc and CURVE's to plain tcp. The raw pyzmq
baseline for the bus itself is benchmarks/bench_bus.py.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time

import numpy as np

PAYLOADS = {"64 B": (64,), "1920x1080x3": (1080, 1920, 3)}
VARIANTS = ("ipc", "tcp", "tcp+curve")
PORT = 5771
TOPIC = "bench/tcp"
HELLO_NS = 1          # a stamp no real message has: "hello, are you there?"
IDLE_END_S = 1.0      # the subscriber stops this long after the last message


# -- the two roles (child processes) ------------------------------------------------------------
def publisher(endpoint: str, shape: tuple, count: int, period_s: float) -> None:
    import zmq

    from edge.bus import Publisher

    pub = Publisher(zmq.Context.instance(), endpoint, source="bench")
    payload = np.zeros(shape, np.uint8)
    print("bound", flush=True)
    hello = np.zeros(1, np.uint8)  # small: a backlog of big hellos would delay the real data
    while not select.select([sys.stdin], [], [], 0.02)[0]:  # slow joiner: hello until told go
        pub.send(TOPIC, hello, stamp_ns=HELLO_NS)
    sys.stdin.readline()
    next_at = time.perf_counter()
    for _ in range(count):
        if period_s:  # sleep, not spin: two cores are shared with the subscriber
            next_at += period_s
            time.sleep(max(0.0, next_at - time.perf_counter()))
        pub.send(TOPIC, payload)
    select.select([sys.stdin], [], [], 120)  # linger 0: close only once the subscriber is done
    pub.close()


def subscriber(endpoint: str, count: int, timeout_s: float, hwm: int) -> None:
    import zmq

    from edge.inputs import Input

    source = Input(zmq.Context.instance(), "in", TOPIC, endpoint, queue_size=100000, hwm=hwm)
    latencies_ns, first, last, said_go = [], None, None, False
    deadline = time.monotonic() + timeout_s
    while len(latencies_ns) < count and time.monotonic() < deadline:
        if last is not None and time.monotonic() - last > IDLE_END_S:
            break  # the rest was dropped (HWM): the publisher is done
        if not source.socket.poll(100):
            continue
        source.drain()
        while (message := source.pop()) is not None:
            if message.stamp_ns == HELLO_NS:
                if not said_go:
                    print("go", flush=True)
                    said_go = True
                continue
            now = time.time_ns()
            latencies_ns.append(now - message.stamp_ns)
            first, last = first or time.monotonic(), time.monotonic()
    print(json.dumps({"latencies_ns": latencies_ns, "span_s": (last or 0) - (first or 0)}),
          flush=True)
    source.close()


# -- the driver ---------------------------------------------------------------------------------
class Namespaces:
    """Two namespaces joined by one veth pair: pub 10.77.0.1, sub 10.77.0.2."""

    def __init__(self):
        self.names = (f"ebt{os.getpid()}p", f"ebt{os.getpid()}s")

    def __enter__(self):
        pub, sub = self.names
        for cmd in (["netns", "add", pub], ["netns", "add", sub],
                    ["-n", pub, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
                     "netns", sub],
                    ["-n", pub, "addr", "add", "10.77.0.1/24", "dev", "eth0"],
                    ["-n", sub, "addr", "add", "10.77.0.2/24", "dev", "eth0"]):
            subprocess.run(["ip", *cmd], check=True, capture_output=True, timeout=10)
        for ns in self.names:
            for dev in ("lo", "eth0"):
                subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"], check=True, timeout=10)
        return self

    def __exit__(self, *exc):
        for ns in self.names:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def run_pair(variant: str, shape: tuple, count: int, period_s: float, netns) -> dict:
    env = dict(os.environ)
    env.pop("EDGE_INSECURE", None)
    if variant == "tcp":
        env["EDGE_INSECURE"] = "1"
    if variant == "ipc":
        bind = connect = f"ipc://{tempfile.mkdtemp(prefix='ebt', dir='/tmp')}/bus.sock"
    else:
        host = "10.77.0.1" if netns else "127.0.0.1"
        bind = connect = f"tcp://{host}:{PORT}"
    wrap = (lambda ns: ["ip", "netns", "exec", ns]) if netns else (lambda ns: [])
    me = [sys.executable, os.path.abspath(__file__)]
    pub = subprocess.Popen(wrap(netns.names[0] if netns else "") + me + [
        "--role", "pub", "--endpoint", bind, "--shape", json.dumps(shape), "--count", str(count),
        "--period", str(period_s)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    try:
        assert pub.stdout.readline().strip() == "bound"
        sub = subprocess.Popen(wrap(netns.names[1] if netns else "") + me + [
            "--role", "sub", "--endpoint", connect, "--count", str(count),
            "--hwm", str(1000 if np.prod(shape) < 65536 else 20)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert sub.stdout.readline().strip() == "go", f"{variant}: subscriber never heard hello"
        pub.stdin.write("go\n")
        pub.stdin.flush()
        result = json.loads(sub.stdout.readline())
        pub.stdin.write("done\n")
        pub.stdin.flush()
        sub.wait(timeout=30)
        return result
    finally:
        pub.kill()
        pub.wait(timeout=10)


def summarise(runs: list[dict], count: int) -> dict:
    lat = np.array([x for r in runs for x in r["latencies_ns"]], dtype=np.float64) / 1e6
    received = sum(len(r["latencies_ns"]) for r in runs)
    span = sum(r["span_s"] for r in runs)
    return {"p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
            "p99_ms": float(np.percentile(lat, 99)) if lat.size else float("nan"),
            "msgs_s": received / span if span else float("nan"),
            "received": f"{received}/{count * len(runs)}"}


def bench(args, netns) -> None:
    # (paced messages, period, blasted messages): 1080p is paced at 4 Hz, slower than CURVE's
    # encryption rate here (~5 frames/s), so its latency is per frame, not a queue
    plan = {"64 B": (500 if args.quick else 2000, 0.002, 20000 if args.quick else 100000),
            "1920x1080x3": (20 if args.quick else 60, 0.25, 30 if args.quick else 100)}
    results: dict = {}
    for label, shape in PAYLOADS.items():
        lat_n, period_s, blast_n = plan[label]
        lat_runs = {v: [] for v in VARIANTS}
        thr_runs = {v: [] for v in VARIANTS}
        for _ in range(args.rounds):           # interleaved: every variant once per round
            for variant in VARIANTS:
                lat_runs[variant].append(run_pair(variant, shape, lat_n, period_s, netns))
                thr_runs[variant].append(run_pair(variant, shape, blast_n, 0.0, netns))
        for variant in VARIANTS:
            lat = summarise(lat_runs[variant], lat_n)
            thr = summarise(thr_runs[variant], blast_n)
            results[(label, variant)] = {"p50_ms": lat["p50_ms"], "p99_ms": lat["p99_ms"],
                                         "msgs_s": thr["msgs_s"], "received": thr["received"]}
    report(results)


def report(results: dict) -> None:
    print(f"{'payload':<12} {'variant':<10} {'p50 ms':>8} {'p99 ms':>8} {'msgs/s':>10} "
          f"{'p50/ipc':>8} {'p99/ipc':>8} {'rate/ipc':>9}  received")
    for (label, variant), r in results.items():
        base = results[(label, "ipc")]
        print(f"{label:<12} {variant:<10} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} "
              f"{r['msgs_s']:10.0f} "
              f"{r['p50_ms'] / base['p50_ms']:8.2f} {r['p99_ms'] / base['p99_ms']:8.2f} "
              f"{r['msgs_s'] / base['msgs_s']:9.2f}  {r['received']}")
    print("\nCURVE overhead (tcp+curve / tcp):")
    for label in PAYLOADS:
        c, t = results[(label, "tcp+curve")], results[(label, "tcp")]
        print(f"  {label:<12} p50 x{c['p50_ms'] / t['p50_ms']:.2f}  "
              f"p99 x{c['p99_ms'] / t['p99_ms']:.2f}"
              f"  msgs/s x{c['msgs_s'] / t['msgs_s']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("pub", "sub"))
    parser.add_argument("--endpoint")
    parser.add_argument("--shape", default="[64]")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--period", type=float, default=0.0)
    parser.add_argument("--hwm", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-netns", action="store_true", help="loopback even as root")
    args = parser.parse_args()
    if args.role == "pub":
        return publisher(args.endpoint, tuple(json.loads(args.shape)), args.count, args.period)
    if args.role == "sub":
        return subscriber(args.endpoint, args.count, timeout_s=60, hwm=args.hwm)
    use_netns = os.geteuid() == 0 and not args.no_netns
    where = "two network namespaces (veth)" if use_netns else "loopback"
    print(f"edge bus: ipc vs tcp vs tcp+CURVE, {where}, "
          f"{args.rounds} round(s)\n")
    if use_netns:
        with Namespaces() as netns:
            bench(args, netns)
    else:
        bench(args, None)


if __name__ == "__main__":
    main()
