"""Throughput of the model manager core with and without dynamic batching.

16 threads call ``forward`` in a loop on a MatMul chain whose weights dwarf
its activations, so one run of 16 rows costs little more than one of 1 row.
Run from the repository root:  python benchmarks/bench_models_core.py
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "model_manager")]

import onnx_fixtures  # noqa: E402
from nodes.model_manager import ManagerConfig, ModelConfig, ModelManager  # noqa: E402


def measure(model: bytes, config: ModelConfig, threads: int, seconds: float,
            width: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as repo, ModelManager(repo, ManagerConfig()) as manager:
        uid = manager.upload_model(model)
        manager.load_models([uid], config=config)
        x = np.random.default_rng(0).standard_normal((1, width), np.float32)
        manager.forward(uid, {"x": x})  # warm-up
        stop_at = time.monotonic() + seconds
        start = threading.Barrier(threads + 1, timeout=30)
        latencies: list[float] = []

        def caller() -> None:
            start.wait()
            while time.monotonic() < stop_at:
                began = time.perf_counter()
                manager.forward(uid, {"x": x}, timeout_s=30)
                latencies.append(time.perf_counter() - began)

        workers = [threading.Thread(target=caller) for _ in range(threads)]
        for w in workers:
            w.start()
        start.wait()
        began = time.monotonic()
        for w in workers:
            w.join(seconds + 60)
        elapsed = time.monotonic() - began
        stats = manager.get_inference_statistics([uid])[0]
    return {"req_per_s": len(latencies) / elapsed,
            "p50_ms": 1000 * float(np.percentile(latencies, 50)),
            "p99_ms": 1000 * float(np.percentile(latencies, 99)),
            "mean_batch": stats["inference_count"] / max(1, stats["execution_count"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=4)
    args = parser.parse_args()
    model = onnx_fixtures.matmul_chain_model(args.width, args.depth)
    runs = {
        "batching off, 1 instance": ModelConfig(),
        "batching off, 2 instances": ModelConfig(instance_count=2),
        "batching on (max 16), 1 instance": ModelConfig(max_batch_size=16),
    }
    print(f"{args.threads} threads x {args.seconds:g} s, MatMul chain {args.depth} x "
          f"{args.width}^2 float32, workers={ManagerConfig().workers}, intra_op_threads=1")
    results = {}
    for name, config in runs.items():
        results[name] = r = measure(model, config, args.threads, args.seconds, args.width)
        print(f"  {name:34s} {r['req_per_s']:8.1f} req/s  p50 {r['p50_ms']:6.2f} ms  "
              f"p99 {r['p99_ms']:6.2f} ms  mean batch {r['mean_batch']:5.2f}")
    on = results["batching on (max 16), 1 instance"]["req_per_s"]
    for name in ("batching off, 1 instance", "batching off, 2 instances"):
        print(f"ratio on/off ({name.split(', ')[1]}): {on / results[name]['req_per_s']:.2f}x")


if __name__ == "__main__":
    main()
