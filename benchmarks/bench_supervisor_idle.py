"""What an idle supervisor costs: its loop's wake-ups per second and its CPU, nothing happening.

    python benchmarks/bench_supervisor_idle.py [--seconds 10] [--baseline DIR]

Launches one ticker at 0.01 Hz (so no node says anything), waits until it is ready, then
reads the supervisor's main-thread context switches and CPU time from /proc over
`--seconds`. With --baseline (a checkout of another revision) both trees run, one after
the other, on the same interpreter.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRAPH = "nodes:\n  - {name: slow, type: ticker, parameters: {rate_hz: 0.01}, outputs: {tick: t}}\n"
CODE = "import sys; from edge.cli import main; sys.exit(main(prog_name='edge'))"


def wakeups(pid: int) -> int:
    status = Path(f"/proc/{pid}/task/{pid}/status").read_text()
    return int(status.split("voluntary_ctxt_switches:")[1].split()[0])


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(tree: Path, seconds: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="edi", dir="/tmp") as runtime_dir:
        graph = Path(runtime_dir, "idle.yaml")
        graph.write_text(GRAPH)
        env = dict(os.environ, EDGE_RUNTIME_DIR=runtime_dir, PYTHONPATH=str(tree))
        proc = subprocess.Popen([sys.executable, "-c", CODE, "launch", str(graph), "--no-color"],
                                env=env, cwd=tree, stdout=subprocess.PIPE, text=True)
        try:
            for line in proc.stdout:
                if "node(s) ready in" in line:
                    break
            woke, used = wakeups(proc.pid), cpu_s(proc.pid)
            time.sleep(seconds)  # the thing measured: nothing happening
            return (wakeups(proc.pid) - woke) / seconds, (cpu_s(proc.pid) - used) / seconds
        finally:
            proc.send_signal(2)
            proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    args = parser.parse_args()
    trees = {"this tree": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    for name, tree in trees.items():
        per_s, cpu = measure(tree, args.seconds)
        print(f"{name:10} idle supervisor: {per_s:.1f} wake-ups/s, CPU {cpu * 100:.2f} %")


if __name__ == "__main__":
    main()
