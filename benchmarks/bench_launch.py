"""How fast `edge launch` gets a 4-node graph going, and how fast it stops.

    python benchmarks/bench_launch.py [--runs 5] [--variants fork,spawn] [--graph FILE]

Per run, from the moment `edge launch` is spawned: until the supervisor reports every
node ready, and until the first message lands at the sink (a recorder's file); then
from SIGINT until the supervisor has exited with every node stopped. Also the CPU each
node had used when the graph was ready (/proc/PID/stat), and the CPU of the whole launch
(supervisor, guardian, fork server, nodes) from start to exit.
Variants, interleaved round by round: `fork` (nodes forked from the pre-imported fork
server, the default) and `spawn` (EDGE_FORK_SERVER=0: one fresh interpreter per node).
With --graph, that launch file instead of the built-in graph (no first-message time).
Targets on a 2-core machine: ready < 1.0 s, shutdown < 1 s.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

EDGE = str(Path(sys.executable).parent / "edge")
GRAPH = """\
name: bench
nodes:
  - {{name: source, type: ticker, parameters: {{rate_hz: 200}}, outputs: {{tick: raw}}}}
  - {{name: relay1, type: relay, inputs: {{in: raw}}, outputs: {{out: hop1}}}}
  - {{name: relay2, type: relay, inputs: {{in: hop1}}, outputs: {{out: hop2}}}}
  - {{name: sink, type: recorder, parameters: {{path: {record}}}, inputs: {{in: hop2}}}}
"""


TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU of a live process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_run(workdir: Path, variant: str, graph_file: Optional[str]) -> dict:
    record = workdir / "record.jsonl"
    graph = Path(graph_file) if graph_file else workdir / "bench.yaml"
    if not graph_file:
        graph.write_text(GRAPH.format(record=record))
    wanted = 4 if graph_file else 5
    env = dict(os.environ, EDGE_RUNTIME_DIR=str(workdir / "rt"),
               EDGE_FORK_SERVER="0" if variant == "spawn" else "1")
    env.pop("EDGE_CONTROL", None)
    cpu_before = children_cpu_s()
    started = time.perf_counter()
    proc = subprocess.Popen([EDGE, "launch", str(graph), "--no-color"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.set_blocking(proc.stdout.fileno(), False)
    result, output = {}, ""
    try:
        deadline = started + 30
        while len(result) < wanted and time.perf_counter() < deadline:
            output += (proc.stdout.read() or b"").decode(errors="replace")
            now = time.perf_counter() - started
            m = re.search(r"all \d+ node\(s\) ready in ([\d.]+) s", output)
            if "ready_s" not in result and m:
                result["ready_s"], result["supervisor_ready_s"] = now, float(m.group(1))
                pids = [int(p) for p in re.findall(r"ready \(pid (\d+)\)", output)]
                result["node_cpu_s"] = statistics.mean(cpu_s(p) for p in pids)
                result["launcher_cpu_s"] = cpu_s(proc.pid)
            if not graph_file and "first_message_s" not in result and record.exists() and record.stat().st_size > 0:
                result["first_message_s"] = now
            time.sleep(0.002)
        if len(result) < wanted:
            raise RuntimeError(f"graph did not get going in 30 s:\n{output}")
        stop_at = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        result["shutdown_s"] = time.perf_counter() - stop_at
        result["launch_cpu_s"] = children_cpu_s() - cpu_before
        if code != 130:
            raise RuntimeError(f"exit code {code}, expected 130:\n{output}")
        return result
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def import_cpu_s(code: str, runs: int = 5) -> float:
    """Median CPU of a fresh `python -c CODE`: what a spawned node pays before its own work."""
    values = []
    for _ in range(runs):
        before = children_cpu_s()
        subprocess.run([sys.executable, "-c", code], check=True)
        values.append(children_cpu_s() - before)
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--variants", default="fork,spawn")
    parser.add_argument("--graph", help="a launch file to start instead of the built-in graph")
    args = parser.parse_args()
    variants = args.variants.split(",")
    runs: dict = {v: [] for v in variants}
    load_before = os.getloadavg()[0]
    for index in range(args.runs + 1):  # the first round warms caches and is not counted
        for variant in variants:
            workdir = Path(tempfile.mkdtemp(dir="/tmp", prefix="ebench"))
            try:
                run = one_run(workdir, variant, args.graph)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            if index:
                runs[variant].append(run)
    what = args.graph or "4-node graph (ticker -> relay -> relay -> recorder)"
    print(f"edge launch, {what}, {args.runs} rounds "
          f"of {'/'.join(variants)} interleaved, {os.cpu_count()} CPUs, load average "
          f"before {load_before:.2f}, after {os.getloadavg()[0]:.2f}")
    labels = {"ready_s": "launch -> all nodes ready",
              "first_message_s": "launch -> first message at sink",
              "supervisor_ready_s": "  (supervisor start -> all ready)",
              "shutdown_s": "SIGINT -> exited",
              "node_cpu_s": "CPU per node at ready",
              "launcher_cpu_s": "CPU of `edge launch` at ready",
              "launch_cpu_s": "CPU of the whole launch"}
    for key, label in labels.items():
        for variant in variants:
            values = [r[key] for r in runs[variant] if key in r]
            if not values:
                continue
            print(f"{label:34s} {variant:6s} median {statistics.median(values):.3f} s  "
                  f"min {min(values):.3f}  max {max(values):.3f}")
    bare, node = import_cpu_s("pass"), import_cpu_s("import edge.run")
    print(f"CPU of a fresh interpreter: {bare:.3f} s; importing edge.run (numpy, zmq, msgpack, "
          f"the core) adds {node - bare:.3f} s (medians of 5)")
    if len(variants) == 2:
        first, second = ([statistics.median(r["ready_s"] for r in runs[v]) for v in variants])
        print(f"ready time {variants[0]}/{variants[1]} (medians): {first / second:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
