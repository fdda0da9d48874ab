"""The ping/ack loops every bus variant runs, so only the transport differs.

A variant is a pair of transports (sender side, receiver side) with:
    sender:   send(stamp_ns, payload), recv_ack(timeout_s) -> count | None, close(),
              optionally prepare(payload) (untimed: fill a loaned frame, as a producer would)
    receiver: recv(timeout_s) -> stamp_ns | None, ack(count), close()
The stamp carries the sender's time.time_ns() taken just before the send call; its
low bit asks the receiver for an ack of its running message count. Stamp 0 is a hello, answered with -(count) - 1.

Latency: one message in flight (send, wait for its ack); one-way = receive time - stamp.
Throughput: up to `window` messages in flight, an ack every `window // 4`, for a fixed
time; messages acked per second. No phase depends on HWM drops or socket teardown.
"""
from __future__ import annotations

import resource
import time

import numpy as np

ACK_BIT = 1
HELLO = 0
BYE = 2  # the sender is done (lets receivers that block without a timeout return)
SIZES = {"64 B": (64,), "VGA": (480, 640, 3), "1080p": (1080, 1920, 3)}


def plan(label: str, scale: float) -> dict:
    """Message counts, window and durations per payload size."""
    nbytes = int(np.prod(SIZES[label]))
    big = nbytes > 1 << 20
    mid = nbytes > 64 << 10
    return {"pings": max(20, int((150 if big else 400 if mid else 1500) * scale)),
            "warmup": 10, "window": 4 if big else 8 if mid else 128,
            "flood_s": max(0.2, 1.0 * scale)}


def stamp(ack: bool) -> int:
    return (time.time_ns() & ~ACK_BIT) | (ACK_BIT if ack else 0)


def sync(transport, deadline_s: float = 20.0) -> int:
    """Send hellos until the receiver answers with -(its message count) - 1; returns that count.

    The first sync proves both directions connected; later ones realign the sender's
    count after a flood in which a variant lost messages.
    """
    hello = np.zeros(1, np.uint8)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        transport.send(HELLO, hello)
        count = transport.recv_ack(0.05)
        if count is not None and count < 0:
            return -count - 1
    raise TimeoutError("receiver never answered the hello")


def wait_ack(transport, want: int, timeout_s: float = 5.0) -> bool:
    end = time.monotonic() + timeout_s
    while (left := end - time.monotonic()) > 0:
        count = transport.recv_ack(left)
        if count is not None and count >= want:
            return True
    return False


def run_sender(transport, labels: list, scale: float) -> dict:
    """Latency then throughput for each size; returns per size the ranges of ping counts."""
    sent, out = sync(transport), {}
    for label in labels:
        payload, p = np.zeros(SIZES[label], np.uint8), plan(label, scale)
        cap = getattr(transport, "max_in_flight", None)
        cap = cap(payload) if callable(cap) else cap
        p["window"] = min(p["window"], cap or p["window"])
        prepare = getattr(transport, "prepare", lambda payload: None)
        for _ in range(p["warmup"]):
            sent += 1
            prepare(payload)
            transport.send(stamp(True), payload)
            wait_ack(transport, sent)
        first = sent = sync(transport)
        for _ in range(p["pings"]):
            sent += 1
            prepare(payload)
            transport.send(stamp(True), payload)
            if not wait_ack(transport, sent):
                raise TimeoutError(f"{label}: ping {sent} was never acked")
        rate, sent = _flood(transport, payload, p, sent)
        out[label] = {"pings": (first, first + p["pings"]), "msgs_s": rate}
        sent = sync(transport)
    transport.send(BYE, np.zeros(1, np.uint8))
    return out


def _flood(transport, payload, p: dict, sent: int) -> tuple[float, int]:
    window, every = p["window"], max(1, p["window"] // 4)
    prepare = getattr(transport, "prepare", lambda payload: None)
    acked, start_sent = sent, sent
    start = time.monotonic()
    end = start + p["flood_s"]
    while time.monotonic() < end:
        while sent - acked >= window:
            count = transport.recv_ack(1.0)
            if count is None:  # a message was lost: resynchronise rather than stall
                acked = sent
            elif count > acked:
                acked = count
        sent += 1
        prepare(payload)
        transport.send(stamp(sent % every == 0), payload)
        count = transport.recv_ack(0)
        if count is not None and count > acked:
            acked = count
    sent += 1
    transport.send(stamp(True), payload)
    wait_ack(transport, sent)
    elapsed = time.monotonic() - start
    return (sent - start_sent) / elapsed, sent


def run_receiver(transport, done) -> dict:
    """Ack hellos and flagged messages until `done` is set; returns one-way latencies."""
    latencies, count = [], 0
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    while not done.is_set():
        sent_ns = transport.recv(0.1)
        if sent_ns is None:
            continue
        now = time.time_ns()
        if sent_ns == HELLO:
            transport.ack(-count - 1)
            continue
        if sent_ns == BYE:
            break
        count += 1
        latencies.append(now - (sent_ns & ~ACK_BIT))
        if sent_ns & ACK_BIT:
            transport.ack(count)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
    return {"latencies_ns": latencies, "faults_per_msg": faults / max(1, count)}
