"""The bus side by side: raw pyzmq, the Node API (ipc, shm) and, when installed, zenoh and dora-rs.

    python benchmarks/bench_bus.py [--rounds 3] [--scale 1.0] [--variants raw,node,...]

Every variant runs the same ping/ack loops (bus_loop.py) in a sender and a receiver
process on this host, for 64 B, VGA and 1080p uint8 payloads: one-way latency p50/p99
with one message in flight, then throughput with a bounded window of messages in flight
for a fixed time. Variants are interleaved over rounds (the order rotates each round), and
each ratio to raw pyzmq is taken within a round, then reported as min/median/max over
rounds. The load average is printed before and after: on a busy machine ratios still
compare like with like, absolute figures do not.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import traceback

import numpy as np
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bus_loop  # noqa: E402
import bus_peers  # noqa: E402
from bus_transports import VARIANTS  # noqa: E402

SESSION_TIMEOUT_S = 180


def all_variants() -> dict:
    return {**VARIANTS, **bus_peers.available()}


def sender_main(variant, paths, labels, scale, out_q):
    try:
        transport = all_variants()[variant][0](paths)
        try:
            out_q.put(bus_loop.run_sender(transport, labels, scale))
        finally:
            transport.close()
    except BaseException:
        out_q.put({"error": traceback.format_exc()})


def receiver_main(variant, paths, done, out_q):
    try:
        transport = all_variants()[variant][1](paths)
        try:
            out_q.put(bus_loop.run_receiver(transport, done))
        finally:
            transport.close()
    except BaseException:
        out_q.put({"error": traceback.format_exc()})


def run_session(variant: str, labels: list, scale: float) -> dict:
    """One sender/receiver pair through every size; per size p50/p99 (us) and msgs/s."""
    ctx = mp.get_context("spawn")
    workdir = tempfile.mkdtemp(prefix="eb-", dir="/tmp")
    paths = {name: f"{workdir}/{name}.sock" for name in ("data", "ack", "zenoh")}
    done, sent_q, received_q = ctx.Event(), ctx.Queue(), ctx.Queue()
    dataflow = bus_peers.dora_start(workdir) if variant == "dora" else None
    sender = ctx.Process(target=sender_main, args=(variant, paths, labels, scale, sent_q))
    receiver = ctx.Process(target=receiver_main, args=(variant, paths, done, received_q))
    sender.start()
    receiver.start()
    try:
        sent = sent_q.get(timeout=SESSION_TIMEOUT_S)
        done.set()
        received = received_q.get(timeout=20)
    finally:
        for proc in (sender, receiver):
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        if dataflow is not None:
            bus_peers.dora_stop(dataflow)
    for side in (sent, received):
        if "error" in side:
            raise RuntimeError(side["error"])
    return summarise(sent, received)


def summarise(sent: dict, received: dict) -> dict:
    latencies, out = received["latencies_ns"], {}
    for label, result in sent.items():
        start, end = result["pings"]
        one_way_us = np.array(latencies[start:end]) / 1e3
        out[label] = {"p50": float(np.percentile(one_way_us, 50)),
                      "p99": float(np.percentile(one_way_us, 99)), "msgs_s": result["msgs_s"]}
    out["faults_per_msg"] = received["faults_per_msg"]
    return out


def ratios(rounds: list, variant: str, label: str, base: str = "raw") -> dict:
    """Per metric, the variant/base ratio of each round that has both."""
    found = {"p50": [], "p99": [], "msgs_s": []}
    for result in rounds:
        if variant in result and base in result:
            for key in found:
                found[key].append(result[variant][label][key] / result[base][label][key])
    return found


def spread(values: list) -> str:
    return "/".join(f"{f(values):.2f}" for f in (min, statistics.median, max)) if values else "-"


def report_against(rounds: list, variants: list, labels: list, base: str) -> None:
    """The Node variants against a peer, round by round (so the peer's noise pairs with ours)."""
    print(f"against {base}, per round (min/median/max): p50, p99, throughput")
    for label in labels:
        for variant in (v for v in variants if v.startswith("node")):
            found = ratios(rounds, variant, label, base)
            if found["p50"]:
                print(f"{label:<6} {variant}/{base:<10} " + "   ".join(spread(v) for v in found.values()))


def report(rounds: list, variants: list, labels: list) -> None:
    header = (f"{'size':<6} {'variant':<9} {'p50 us':>8} {'p99 us':>8} {'msgs/s':>9} {'MB/s':>7}"
              f"   {'p50/raw min/med/max':>20} {'p99/raw min/med/max':>20} {'thr/raw min/med/max':>20}")
    print(header)
    print("-" * len(header))
    for label in labels:
        nbytes = int(np.prod(bus_loop.SIZES[label]))
        for variant in variants:
            runs = [r[variant][label] for r in rounds if variant in r]
            if not runs:
                print(f"{label:<6} {variant:<9} (no successful round)")
                continue
            med = {k: statistics.median(run[k] for run in runs) for k in ("p50", "p99", "msgs_s")}
            cells = [spread(values) for values in ratios(rounds, variant, label).values()]
            print(f"{label:<6} {variant:<9} {med['p50']:8.1f} {med['p99']:8.1f} {med['msgs_s']:9.0f} "
                  f"{med['msgs_s'] * nbytes / 1e6:7.0f}   {cells[0]:>20} {cells[1]:>20} {cells[2]:>20}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="message counts and flood time")
    parser.add_argument("--variants", default="", help="comma list (default: all available)")
    parser.add_argument("--sizes", default=",".join(bus_loop.SIZES))
    args = parser.parse_args()
    available = all_variants()
    variants = [v for v in (args.variants.split(",") if args.variants else available) if v]
    missing = [v for v in variants if v not in available]
    if missing:
        print(f"skipped (not installed): {', '.join(missing)}")
    variants = [v for v in variants if v in available]
    labels = [s.strip() for s in args.sizes.split(",")]
    unknown = [label for label in labels if label not in bus_loop.SIZES]
    if unknown:
        parser.error(f"unknown size {', '.join(unknown)}: choose from {', '.join(bus_loop.SIZES)}")
    print(f"cores={os.cpu_count()} pyzmq={zmq.__version__} libzmq={zmq.zmq_version()} "
          f"variants={','.join(variants)} rounds={args.rounds} loadavg={os.getloadavg()}")
    rounds = []
    try:
        for index in range(args.rounds):
            order = variants[index % len(variants):] + variants[:index % len(variants)]
            result = {}
            for variant in order:
                try:
                    result[variant] = run_session(variant, labels, args.scale)
                except Exception as exc:  # one broken peer must not void the others' round
                    print(f"round {index + 1}: {variant} failed: {(str(exc).strip() or repr(exc)).splitlines()[-1]}")
            rounds.append(result)
            print(f"round {index + 1}/{args.rounds} done, loadavg={os.getloadavg()}", flush=True)
    finally:
        if "dora" in variants:
            bus_peers.dora_destroy()
    report(rounds, variants, labels)
    if "zenoh" in variants:
        report_against(rounds, variants, labels, "zenoh")
    faults = {v: round(statistics.median(r[v]["faults_per_msg"] for r in rounds if v in r), 1)
              for v in variants if any(v in r for r in rounds)}
    print(f"receiver minor page faults per message, all sizes (median over rounds): {faults}")
    print(f"loadavg={os.getloadavg()}")


if __name__ == "__main__":
    main()
