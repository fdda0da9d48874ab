"""How long `edge nodes` takes to say there is no running launch: the CLI's start-up cost.

    python benchmarks/bench_cli_startup.py [--runs 10] [--baseline DIR]

Each run is `python -c "from edge.cli import main; main()" nodes` with a fresh runtime dir
(so nothing answers and nothing waits). With --baseline (a checkout of another revision,
e.g. `git archive main | tar -x -C /tmp/base`), the two trees run interleaved, round by
round, on the same interpreter, and the ratio of the medians is printed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = "import sys; from edge.cli import main; sys.exit(main(prog_name='edge'))"


def one_run(tree: Path, runtime_dir: str) -> float:
    env = dict(os.environ, EDGE_RUNTIME_DIR=runtime_dir, PYTHONPATH=str(tree))
    env.pop("EDGE_CONTROL", None)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CODE, "nodes"], env=env, cwd=tree,
                            capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - started
    if "no running launch" not in result.stderr:
        raise SystemExit(f"{tree}: unexpected output: {result.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    args = parser.parse_args()
    trees = {"this tree": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    times: dict[str, list[float]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as runtime_dir:
        for _ in range(args.runs):
            for name, tree in trees.items():
                times[name].append(one_run(tree, runtime_dir))
    for name, values in times.items():
        print(f"{name:10} `edge nodes`: median {statistics.median(values) * 1000:.0f} ms "
              f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, n={len(values)})")
    if args.baseline:
        ratio = statistics.median(times["baseline"]) / statistics.median(times["this tree"])
        print(f"baseline / this tree: {ratio:.2f}x")


if __name__ == "__main__":
    main()
