"""How long a call to a peer that never answers takes, against its bound timeout x attempts.

    python benchmarks/bench_timeouts.py [--timeout 0.5] [--rounds 3]

Peers: a ZeroMQ ROUTER that never reads, and a bare TCP listener that never completes the
ZeroMQ handshake. Callers, interleaved round by round: raw pyzmq (a DEALER polling for the
same deadlines: the floor), edge.Client, ModelManagerClient admin calls (load, upload) and
the asyncio client. Prints the worst elapsed/bound ratio per caller; the contract is <= 1.10.
"""
from __future__ import annotations

import argparse
import asyncio
import socket
import time

import zmq

from edge import Client
from edge.errors import ServiceTimeout
from nodes.model_manager.aio import AsyncModelManagerClient
from nodes.model_manager.client import ModelManagerClient

ATTEMPTS = 3


def raw_pyzmq(endpoint: str, timeout_s: float) -> None:
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(endpoint)
    try:
        for _ in range(ATTEMPTS):
            dealer.send_multipart([b"", b"\x80"])
            if dealer.poll(int(timeout_s * 1000)):
                return
    finally:
        dealer.close()


def edge_client(endpoint: str, timeout_s: float) -> None:
    with Client(endpoint, timeout_s=timeout_s, retries=ATTEMPTS - 1) as client:
        client.call("ping")


def manager_load(endpoint: str, timeout_s: float) -> None:
    with ModelManagerClient(endpoint, timeout_s=timeout_s) as client:
        client.load_models(["0" * 64])


def manager_upload(endpoint: str, timeout_s: float) -> None:
    with ModelManagerClient(endpoint, timeout_s=timeout_s) as client:
        client.upload_model(b"\0" * (8 << 20))


def asyncio_load(endpoint: str, timeout_s: float) -> None:
    async def load() -> None:
        client = AsyncModelManagerClient(endpoint, timeout_s=timeout_s)
        try:
            await client.load_models(["0" * 64])
        finally:
            await client.close()
    asyncio.run(load())


CALLERS = {"raw pyzmq": raw_pyzmq, "edge.Client": edge_client, "manager load": manager_load,
           "manager upload 8 MiB": manager_upload, "asyncio load": asyncio_load}


def elapsed_s(caller, endpoint: str, timeout_s: float) -> float:
    started = time.monotonic()
    try:
        caller(endpoint, timeout_s)
    except ServiceTimeout:
        pass
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    router = zmq.Context.instance().socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind("tcp://127.0.0.1:*")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    peers = {"silent ROUTER": router.getsockopt_string(zmq.LAST_ENDPOINT),
             "bare TCP": f"tcp://127.0.0.1:{listener.getsockname()[1]}"}
    bound_s = args.timeout * ATTEMPTS
    worst: dict = {}
    for _ in range(args.rounds):
        for peer, endpoint in peers.items():
            for name, caller in CALLERS.items():
                ratio = elapsed_s(caller, endpoint, args.timeout) / bound_s
                worst[(peer, name)] = max(worst.get((peer, name), 0.0), ratio)
    print(f"bound: {args.timeout:g} s x {ATTEMPTS} attempts = {bound_s:g} s; "
          f"worst elapsed/bound over {args.rounds} rounds")
    print(f"{'peer':15s} {'caller':22s} {'ratio':>6s} {'vs raw':>7s}")
    for (peer, name), ratio in worst.items():
        print(f"{peer:15s} {name:22s} {ratio:6.3f} {ratio / worst[(peer, 'raw pyzmq')]:7.3f}")
    router.close()
    listener.close()


if __name__ == "__main__":
    main()
