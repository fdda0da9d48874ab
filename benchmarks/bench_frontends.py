"""One model manager, four ways in: tritonclient gRPC, pykos gRPC, our ZeroMQ client, and
onnxruntime called directly (no server), plus a raw pyzmq REQ/REP echo of the same input
bytes (another process) as the transport floor.

For a small model (add_matmul, [1, 3]) and the PP-OCRv4 detector ([1, 3, H, W]): round trip
p50/p99 at 1 client with the variants interleaved call by call, and throughput at 1 client
(1 / mean round trip) and at 16 client threads (each with its own client), the variants
alternating over rounds. Ratios are against our ZeroMQ client. The server is
`edge model serve --grpc`, one process for every variant, ipc for ZeroMQ, loopback TCP for gRPC.

Run from the repository root (needs the 'grpc' and 'demo' extras):
    python benchmarks/bench_frontends.py
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import tritonclient.grpc as tritongrpc
import zmq
from pykos import KOS

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "model_manager"), str(ROOT / "benchmarks")]

import onnx_fixtures  # noqa: E402
from bench_models import ECHO, interleaved  # noqa: E402
from nodes.model_manager.client import ModelManagerClient  # noqa: E402
from server_process import ServerProcess  # noqa: E402


class Target:
    """Everything a variant needs to build its own client for one model."""

    def __init__(self, name: str, model: bytes, inputs: dict[str, np.ndarray], server,
                 echo_endpoint: str) -> None:
        self.name, self.inputs, self.server = name, inputs, server
        self.echo_endpoint = echo_endpoint
        with ModelManagerClient(server.endpoint, timeout_s=60) as client:
            self.uid = client.upload_model(model, {"name": name, "version": "1"})
            client.load_models([self.uid])
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # as ModelConfig's
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def direct(t: Target):
    return (lambda: t.session.run(None, t.inputs)), lambda: None


def zeromq(t: Target):
    client = ModelManagerClient(t.server.endpoint, timeout_s=60)
    return (lambda: client.forward(t.uid, t.inputs)), client.close


def echo(t: Target):
    socket = zmq.Context.instance().socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(t.echo_endpoint)
    frames = [np.ascontiguousarray(a) for a in t.inputs.values()]

    def call() -> None:
        socket.send_multipart(frames, copy=False)
        socket.recv_multipart(copy=False)
    return call, socket.close


def triton(t: Target):
    client = tritongrpc.InferenceServerClient(t.server.grpc_address)
    inputs = []
    for name, array in t.inputs.items():
        tensor = tritongrpc.InferInput(name, list(array.shape), "FP32")
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)

    def call() -> None:
        result = client.infer(t.name, inputs)
        for output in result.get_response().outputs:
            result.as_numpy(output.name)
    return call, client.close


def pykos(t: Target):
    """pykos is asyncio; each client gets its own loop, as a sync script would run it."""
    loop = asyncio.new_event_loop()
    host, port = t.server.grpc_address.rsplit(":", 1)

    async def connect() -> KOS:
        kos = KOS(host, int(port))
        kos.connect()
        return kos

    kos = loop.run_until_complete(connect())
    tensors = {name: {"values": a.ravel().tolist(), "shape": [
        {"size": n, "name": "", "dynamic": False} for n in a.shape]} for name, a in t.inputs.items()}

    def call() -> None:
        reply = loop.run_until_complete(kos.inference.forward(t.uid, tensors))
        assert reply["error"] is None, reply["error"]
        for tensor in reply["outputs"].values():
            np.asarray(tensor["values"], np.float32).reshape([d["size"] for d in tensor["shape"]])

    def close() -> None:
        loop.run_until_complete(kos.close())
        loop.close()
    return call, close


VARIANTS = {"onnxruntime direct": direct, "pyzmq echo (floor)": echo, "ZeroMQ client": zeromq,
            "tritonclient gRPC": triton, "pykos gRPC": pykos}


def latency(t: Target, iterations: int) -> dict[str, list[float]]:
    made = {name: make(t) for name, make in VARIANTS.items()}
    try:
        samples = interleaved([call for call, _ in made.values()], iterations)
    finally:
        for _, close in made.values():
            close()
    return dict(zip(made, samples))


def throughput(t: Target, make, threads: int, seconds: float) -> float:
    """Requests per second with `threads` closed-loop callers, each with its own client."""
    ready = threading.Barrier(threads + 1, timeout=300)
    go = threading.Event()
    counts = [0] * threads
    stop_at: list[float] = []

    def caller(index: int) -> None:
        call, close = make(t)
        try:
            call()  # connected and warm before the clock starts
            ready.wait()
            go.wait(300)
            while time.monotonic() < stop_at[0]:
                call()
                counts[index] += 1
        finally:
            close()

    workers = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    ready.wait()
    began = time.monotonic()
    stop_at.append(began + seconds)
    go.set()
    for worker in workers:
        worker.join(seconds + 300)
    return sum(counts) / (time.monotonic() - began)


def report(t: Target, rtts: dict[str, list[float]], rates: dict[str, list[float]]) -> None:
    def p(samples: list[float], q: float) -> float:
        return 1000 * float(np.percentile(samples, q))

    base_rtt = p(rtts["ZeroMQ client"], 50)
    base_rate = statistics.median(rates["ZeroMQ client"]) or float("nan")
    print(f"\n{t.name}: {', '.join(f'{k} {list(v.shape)}' for k, v in t.inputs.items())}")
    print(f"  {'variant':22s} {'p50 ms':>8s} {'p99 ms':>8s} {'p50/zmq':>8s} {'1-cl r/s':>9s} "
          f"{'16-cl r/s':>9s} {'16-cl/zmq':>9s}")
    for name, samples in rtts.items():
        many = "        -         -"  # one echo process serves one caller at a time
        if name in rates:
            rate16 = statistics.median(rates[name])
            many = f"{rate16:9.1f} {rate16 / base_rate:8.2f}x"
        print(f"  {name:22s} {p(samples, 50):8.3f} {p(samples, 99):8.3f} "
              f"{p(samples, 50) / base_rtt:7.2f}x {1 / statistics.mean(samples):9.1f} {many}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300, help="small-model round trips")
    parser.add_argument("--det-iterations", type=int, default=20)
    parser.add_argument("--det-size", type=int, default=320, help="detector input H = W")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=2.0, help="per variant per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="frontbench") as tmp:
        server = ServerProcess(Path(tmp) / "repo", f"ipc://{tmp}/mm.sock", Path(tmp) / "log",
                               "--workers", str(args.workers), "--grpc", "127.0.0.1:0").start()
        echo_proc = subprocess.Popen([sys.executable, "-c", ECHO, f"ipc://{tmp}/echo.sock"],
                                     stdout=subprocess.PIPE, text=True)
        try:
            assert echo_proc.stdout.readline().strip() == "ready"
            run(args, server, f"ipc://{tmp}/echo.sock")
        finally:
            echo_proc.kill()
            echo_proc.wait(10)
            server.stop()


def run(args, server, echo_endpoint: str) -> None:
    print("load average at start: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"server: edge model serve --workers {args.workers} --grpc (one process for all)")
    ones = np.ones((1, 3), np.float32)
    image = np.random.default_rng(0).random((1, 3, args.det_size, args.det_size),
                                            dtype=np.float32)
    targets = [(Target("add_matmul", onnx_fixtures.add_matmul_model(), {"a": ones, "b": ones},
                       server, echo_endpoint), args.iterations),
               (Target("ppocr_det", onnx_fixtures.ppocr_det_path().read_bytes(), {"x": image},
                       server, echo_endpoint), args.det_iterations)]
    for target, iterations in targets:
        rtts = latency(target, iterations)
        rates: dict[str, list[float]] = {n: [] for n in VARIANTS if n != "pyzmq echo (floor)"}
        for _ in range(args.rounds):  # alternate, so outside load hits every variant alike
            for name in rates:
                rates[name].append(throughput(target, VARIANTS[name], args.threads, args.seconds))
        report(target, rtts, rates)
    print("\nload average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
