"""A camera-like publisher and a subscriber in two processes, talking over ipc.

    python examples/pubsub.py            # runs both for 3 seconds
"""
import os
import subprocess
import sys
import time

import numpy as np

from edge import Node
from edge.endpoints import ipc_endpoint

TOPIC = "example/frames"


def publisher(endpoint: str, subscriber: subprocess.Popen) -> None:
    """Publish a 640x480 frame at 30 Hz until the subscriber process is done."""
    node = Node("example-pub", endpoint=endpoint)
    node.timer("frame", 1 / 30)
    print(f"publisher: {TOPIC} at 30 Hz on {endpoint}", flush=True)
    frame_id = 0
    for event in node:
        if event.kind == "timer":
            frame_id += 1
            image = np.full((480, 640, 3), frame_id % 256, np.uint8)
            node.publish(TOPIC, {"frame_id": frame_id, "image": image})
            if subscriber.poll() is not None:
                node.stop()
    node.close()


def subscriber(endpoint: str, duration_s: float) -> None:
    node = Node("example-sub")
    node.subscribe(TOPIC, endpoint=endpoint)
    node.timer("report", 1.0)
    count, dropped, ages = 0, 0, []
    stop_at = time.monotonic() + duration_s
    for event in node:
        if event.kind == "input":
            count, dropped = count + 1, dropped + event.dropped
            ages.append((time.time_ns() - event.stamp_ns) / 1e6)
        elif event.kind == "timer":
            median = sorted(ages)[len(ages) // 2] if ages else float("nan")
            print(f"subscriber: {count} frames, {dropped} dropped, median age {median:.2f} ms",
                  flush=True)
            count, dropped, ages = 0, 0, []
            if time.monotonic() > stop_at:
                node.stop()
    node.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "sub":
        subscriber(sys.argv[2], float(sys.argv[3]))
        return
    endpoint = ipc_endpoint(f"example-pub-{os.getpid()}")
    sub = subprocess.Popen([sys.executable, __file__, "sub", endpoint, "3"])
    try:
        publisher(endpoint, sub)
    finally:
        if sub.poll() is None:
            sub.terminate()
        sub.wait(timeout=10)


if __name__ == "__main__":
    main()
