"""Processes the bus and service tests start: `python peers.py ROLE ...`."""
import json
import sys
import time

import numpy as np


def publish(endpoint, count, rate_hz, shape, report):
    """Publish `count` frames at `rate_hz`; write the achieved rate to `report`."""
    from edge import Node

    node = Node("pub", outputs={"frames": {"topic": "cam/frames", "endpoint": endpoint}})
    node.bind_outputs()
    time.sleep(0.5)  # let subscribers connect
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate_hz - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        node.publish("frames", {"i": i, "data": np.full(shape, i % 251, np.uint8)})
    elapsed = time.monotonic() - start
    with open(report, "w") as f:
        json.dump({"rate_hz": (count - 1) / elapsed if count > 1 else 0}, f)
    time.sleep(0.5)
    node.close()


def subscribe(endpoint, count, work_s, queue_size, report):
    """Receive until `count` messages or a quiet second; spend `work_s` on each."""
    from edge import Node

    node = Node("sub")
    node.subscribe("frames", topic="cam/frames", endpoint=endpoint, queue_size=queue_size)
    received, dropped, first = [], 0, None
    while len(received) < count:
        event = node.next_event(timeout_s=1.0 if received else 15.0)
        if event is None or event.kind == "stop":
            break
        assert int(event.value["data"].flat[0]) == event.value["i"] % 251
        received.append(event.value["i"])
        dropped += event.dropped
        time.sleep(work_s)
    with open(report, "w") as f:
        json.dump({"received": received, "dropped": dropped,
                   "stats": node.stats()["inputs"]["frames"]}, f)
    node.close()


def serve(endpoint):
    """A service with a failing method, a slow one and an echo; runs until SIGTERM."""
    import signal
    import threading

    from edge import Service

    service = Service(endpoint, name="peer")
    service.add("echo", lambda request: request.body)
    service.add("fail", lambda request: 1 / 0)
    service.add("sleep", lambda request: time.sleep(request.body) or "slept")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("serving", flush=True)
    service.serve(stop)
    service.close()


if __name__ == "__main__":
    role, args = sys.argv[1], sys.argv[2:]
    if role == "pub":
        publish(args[0], int(args[1]), float(args[2]), tuple(json.loads(args[3])), args[4])
    elif role == "sub":
        subscribe(args[0], int(args[1]), float(args[2]), int(args[3]), args[4])
    elif role == "serve":
        serve(args[0])
