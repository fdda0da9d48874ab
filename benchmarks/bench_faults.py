"""Page faults per received 1080p frame, with and without the node's malloc tuning.

    python benchmarks/bench_faults.py [--rounds 3] [--frames 300]

Each case runs in a fresh process (glibc reads its thresholds once): a Node publisher and
a Node subscriber in that process over ipc, `--window` frames in flight, so libzmq's I/O
thread allocates each receive buffer and the node's thread frees it, as between two
processes. Reports minor faults per frame and wall time per frame, interleaved over rounds,
plus the peak RSS (the memory the tuning trades for fewer faults).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys, time
import numpy as np
from edge import Node
frames, window, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
pub = Node("faults-pub", handle_signals=False,
           outputs={"o": {"topic": "f", "endpoint": f"ipc://{path}"}})
pub.bind_outputs()
sub = Node("faults-sub", handle_signals=False)
sub.subscribe("i", topic="f", endpoint=f"ipc://{path}", queue_size=window)
payload = np.zeros((1080, 1920, 3), np.uint8)
while True:
    pub.publish("o", np.zeros(1))
    if sub.next_event(timeout_s=0.05) is not None:
        break
for _ in range(20):  # warm up the allocator
    pub.publish("o", payload)
    sub.next_event(timeout_s=5)
before, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
received = 0
while received < frames:
    for _ in range(window):
        pub.publish("o", payload)
    for _ in range(window):
        if sub.next_event(timeout_s=5) is not None:
            received += 1
elapsed = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"faults": (usage.ru_minflt - before) / received, "ms": elapsed / received * 1e3,
                  "maxrss_mb": usage.ru_maxrss / 1024}))
pub.close()
sub.close()
"""


def run(tuning: bool, frames: int, window: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["EDGE_MALLOC_TUNING"] = "1" if tuning else "0"
    path = tempfile.mktemp(prefix="ef-", suffix=".sock", dir="/tmp")
    done = subprocess.run([sys.executable, "-c", CHILD, str(frames), str(window), path], env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--window", type=int, default=4)
    args = parser.parse_args()
    print(f"loadavg={os.getloadavg()} frames={args.frames} window={args.window}")
    results = {False: [], True: []}
    for _ in range(args.rounds):
        for tuning in (False, True):
            results[tuning].append(run(tuning, args.frames, args.window))
    for tuning, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in ("faults", "ms", "maxrss_mb")}
        spread = "/".join(f"{f(r['faults'] for r in runs):.0f}" for f in (min, statistics.median, max))
        print(f"malloc tuning {'on ' if tuning else 'off'}: faults/frame min/med/max {spread}, "
              f"{med['ms']:.2f} ms/frame, peak RSS {med['maxrss_mb']:.0f} MB")
    print(f"loadavg={os.getloadavg()}")


if __name__ == "__main__":
    main()
