"""Processes the bus and service tests start: `python peers.py ROLE ...`."""
import json
import sys
import time

import numpy as np

HANDSHAKE_S = 15.0


def publish(endpoint, count, rate_hz, shape, sync):
    """Warm up until the subscriber has a message, publish `count` frames at `rate_hz` (the
    last one says so), then wait for the subscriber to have it: no slow-joiner sleeps."""
    import zmq

    from edge import Node

    node = Node("pub", outputs={"frames": {"topic": "cam/frames", "endpoint": endpoint}})
    node.bind_outputs()
    handshake = zmq.Context.instance().socket(zmq.PULL)
    handshake.setsockopt(zmq.LINGER, 0)
    handshake.bind(sync)
    deadline = time.monotonic() + HANDSHAKE_S
    while not handshake.poll(50):   # warm-up frames (i = -1) until the subscriber has one
        if time.monotonic() > deadline:
            sys.exit("publisher: no subscriber received a warm-up frame")
        node.publish("frames", {"i": -1, "last": False, "data": np.zeros(shape, np.uint8)})
    assert handshake.recv() == b"ready"
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate_hz - time.monotonic()
        if delay > 0:
            time.sleep(delay)   # pacing the stream, not synchronising
        node.publish("frames", {"i": i, "last": i == count - 1,
                                "data": np.full(shape, i % 251, np.uint8)})
    if not handshake.poll(HANDSHAKE_S * 1000):
        sys.exit("publisher: the subscriber never confirmed the last frame")
    assert handshake.recv() == b"done"
    handshake.close()
    node.close()


def subscribe(endpoint, count, work_s, queue_size, sync, report):
    """Receive until the last frame, `count` messages or a quiet second; spend `work_s` on
    each. Drops are counted from the first real frame on."""
    import zmq

    from edge import Node

    node = Node("sub")
    node.subscribe("frames", topic="cam/frames", endpoint=endpoint, queue_size=queue_size)
    handshake = zmq.Context.instance().socket(zmq.PUSH)
    handshake.setsockopt(zmq.LINGER, 2000)
    handshake.connect(sync)
    received, dropped, ready = [], 0, False
    while len(received) < count:
        event = node.next_event(timeout_s=1.0 if received else HANDSHAKE_S)
        if event is None or event.kind == "stop":
            break
        if event.value["i"] < 0:
            if not ready:
                handshake.send(b"ready")
                ready = True
            continue
        assert int(event.value["data"].flat[0]) == event.value["i"] % 251
        dropped += event.dropped if received else 0
        received.append(event.value["i"])
        if event.value["last"]:
            handshake.send(b"done")
            break
        time.sleep(work_s)   # the subscriber's work on a frame
    with open(report, "w") as f:
        json.dump({"received": received, "dropped": dropped,
                   "stats": node.stats()["inputs"]["frames"]}, f)
    handshake.close()
    node.close()


def flood(endpoint):
    """Publish 1 on topic "busy" as fast as it can until killed: keeps a subscriber busy
    from another process, so the flood does not take the subscriber's GIL."""
    from edge import Node

    node = Node("flood", endpoint=endpoint, handle_signals=False)
    node.bind_outputs()
    while True:
        node.publish("busy", 1)


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
        subscribe(args[0], int(args[1]), float(args[2]), int(args[3]), args[4], args[5])
    elif role == "flood":
        flood(args[0])
    elif role == "serve":
        serve(args[0])
