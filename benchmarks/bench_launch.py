"""How fast `edge launch` gets a 4-node graph going, and how fast it stops.

    python benchmarks/bench_launch.py [--runs 5]

Per run, from the moment `edge launch` is spawned: until the supervisor reports every
node ready, and until the first message lands at the sink (a recorder's file); then
from SIGINT until the supervisor has exited with every node stopped.
Targets on a 2-core machine: ready < 1.5 s, shutdown < 1 s.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EDGE = str(Path(sys.executable).parent / "edge")
GRAPH = """\
name: bench
nodes:
  - {{name: source, type: ticker, parameters: {{rate_hz: 200}}, outputs: {{tick: raw}}}}
  - {{name: relay1, type: relay, inputs: {{in: raw}}, outputs: {{out: hop1}}}}
  - {{name: relay2, type: relay, inputs: {{in: hop1}}, outputs: {{out: hop2}}}}
  - {{name: sink, type: recorder, parameters: {{path: {record}}}, inputs: {{in: hop2}}}}
"""


def one_run(workdir: Path) -> dict:
    record = workdir / "record.jsonl"
    graph = workdir / "bench.yaml"
    graph.write_text(GRAPH.format(record=record))
    env = dict(os.environ, EDGE_RUNTIME_DIR=str(workdir / "rt"))
    env.pop("EDGE_CONTROL", None)
    started = time.perf_counter()
    proc = subprocess.Popen([EDGE, "launch", str(graph), "--no-color"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.set_blocking(proc.stdout.fileno(), False)
    result, output = {}, ""
    try:
        deadline = started + 30
        while len(result) < 3 and time.perf_counter() < deadline:
            output += (proc.stdout.read() or b"").decode(errors="replace")
            now = time.perf_counter() - started
            m = re.search(r"all 4 node\(s\) ready in ([\d.]+) s", output)
            if "ready_s" not in result and m:
                result["ready_s"], result["supervisor_ready_s"] = now, float(m.group(1))
            if "first_message_s" not in result and record.exists() and record.stat().st_size > 0:
                result["first_message_s"] = now
            time.sleep(0.002)
        if len(result) < 3:
            raise RuntimeError(f"graph did not get going in 30 s:\n{output}")
        stop_at = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        result["shutdown_s"] = time.perf_counter() - stop_at
        if code != 130:
            raise RuntimeError(f"exit code {code}, expected 130:\n{output}")
        return result
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = []
    for index in range(args.runs + 1):  # the first run warms caches and is not counted
        workdir = Path(tempfile.mkdtemp(dir="/tmp", prefix="ebench"))
        try:
            run = one_run(workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if index:
            runs.append(run)
    print(f"edge launch, 4-node graph (ticker -> relay -> relay -> recorder), {args.runs} runs, "
          f"{os.cpu_count()} CPUs, load average before: {os.getloadavg()[0]:.2f}")
    labels = {"ready_s": "launch -> all nodes ready",
              "first_message_s": "launch -> first message at sink",
              "supervisor_ready_s": "  (supervisor start -> all ready)",
              "shutdown_s": "SIGINT -> exited"}
    for key, label in labels.items():
        values = [r[key] for r in runs]
        print(f"{label:34s} median {statistics.median(values):.3f} s  "
              f"min {min(values):.3f}  max {max(values):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
