"""What `edge measure` costs: a graph's result rate with and without being measured.

Rounds alternate: the graph alone under `edge launch` (the result topic's rate from its
publisher's own counters, read twice through the control endpoint), then the same graph
under `edge measure` (the same counters, as measurements.json reports them). The machine
is shared, so each variant runs several times, interleaved, and the ratio of medians is
printed with the load average.

Run from the repository root:
    python -m benchmarks.bench_measure launch/ocr_demo.yaml --topic text/strings --rounds 2
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edge.launch.control import ControlClient
from edge.measure.session import Options, Session, snapshot

EDGE = [sys.executable, "-c", "from edge.cli import main; main()"]


def bare_rate(launch_file: Path, topic: str, duration_s: float, warmup_s: float) -> float:
    """Results/s of `topic` with nothing but the launcher watching."""
    session = Session(launch_file, Path(tempfile.mkdtemp(prefix="bench-measure-")), Options())
    try:
        session.start()
        with ControlClient(session.control, timeout_s=3.0, retries=1) as control:
            session.wait_ready(control)
            time.sleep(warmup_s)
            before, start = _published(snapshot(control), topic), time.monotonic()
            time.sleep(duration_s)
            after, elapsed = _published(snapshot(control), topic), time.monotonic() - start
        return (after - before) / elapsed
    finally:
        session.stop()


def measured_rate(launch_file: Path, topic: str, duration_s: float, warmup_s: float) -> float:
    out = Path(tempfile.mkdtemp(prefix="bench-measure-"))
    subprocess.run([*EDGE, "measure", str(launch_file), "--duration", str(duration_s),
                    "--warmup", str(warmup_s), "-o", str(out)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    return json.loads((out / "measurements.json").read_text())["topics"][topic]["rate_hz"]


def _published(stats: dict, topic: str) -> int:
    return sum((node.get("published") or {}).get(topic, 0)
               for node in (stats.get("nodes") or {}).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("launch_file", type=Path)
    parser.add_argument("--topic", required=True, help="the result topic to count")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    args = parser.parse_args()
    rates = {"bare": [], "measured": []}
    for round_index in range(args.rounds):
        for name, run in (("bare", bare_rate), ("measured", measured_rate)):
            rate = run(args.launch_file, args.topic, args.duration, args.warmup)
            rates[name].append(rate)
            print(f"round {round_index + 1} {name:9} {rate:7.3f} results/s  "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
    bare, measured = (statistics.median(rates[k]) for k in ("bare", "measured"))
    print(f"\nmedian results/s: bare {bare:.3f}, measured {measured:.3f}, "
          f"ratio measured/bare {measured / bare:.3f}  (cores {os.cpu_count()}, "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()
