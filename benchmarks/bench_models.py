"""The model manager over the wire: what a forward costs, and what batching buys.

1. Latency: client -> `edge model serve` (another process, ipc) -> onnxruntime -> reply,
   against onnxruntime called directly plus a raw pyzmq REQ/REP echo (another
   process) of the same input bytes. Target: manager <= 1.5 x (direct + echo).
2. Throughput: 16 client threads, each with its own client, on a MatMul chain
   whose weights dwarf its activations, with dynamic batching on and off.
   Target: on >= 2 x off.

The fixed cost alone, against raw pyzmq over rounds: benchmarks/bench_models_fixed.py.
Run from the repository root:  python benchmarks/bench_models.py
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "model_manager")]

import onnx_fixtures  # noqa: E402
from nodes.model_manager.client import ModelManagerClient  # noqa: E402
from server_process import ServerProcess  # noqa: E402

ECHO = textwrap.dedent("""
    import sys, zmq
    socket = zmq.Context.instance().socket(zmq.REP)
    socket.bind(sys.argv[1])
    print("ready", flush=True)
    while True:
        frames = socket.recv_multipart(copy=False)
        if len(frames) == 1 and frames[0].bytes == b"stop":
            socket.send(b"")
            break
        socket.send_multipart(frames, copy=False)
""")


def timed(call, iterations: int, warmup: int = 3) -> list[float]:
    return interleaved([call], iterations, warmup)[0]


def interleaved(calls: list, iterations: int, warmup: int = 3) -> list[list[float]]:
    """Alternate the calls so a busy machine slows each of them alike."""
    for _ in range(warmup):
        for call in calls:
            call()
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(iterations):
        for call, times in zip(calls, samples):
            began = time.perf_counter()
            call()
            times.append(time.perf_counter() - began)
    return samples


def ms(samples: list[float]) -> str:
    return f"{1000 * statistics.median(samples):8.3f}"


def latency(name: str, model: bytes, inputs: dict, client: ModelManagerClient,
            echo: zmq.Socket, iterations: int) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1  # as ModelConfig's default
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    uid = client.upload_model(model)
    client.load_models([uid])
    frames = [np.ascontiguousarray(a) for a in inputs.values()]

    def round_trip() -> None:
        echo.send_multipart(frames, copy=False)
        echo.recv_multipart(copy=False)

    direct, zmq_echo, managed = interleaved(
        [lambda: session.run(None, inputs), round_trip,
         lambda: client.forward(uid, inputs, timeout_s=60)], iterations)
    client.unload_models([uid])
    base = statistics.median(direct) + statistics.median(zmq_echo)
    ratio = statistics.median(managed) / base
    print(f"  {name:28s} {ms(direct)} {ms(zmq_echo)} {1000 * base:8.3f} {ms(managed)} "
          f"{ratio:6.2f}x")
    return ratio


def throughput(client: ModelManagerClient, endpoint: str, uid: str, config: dict,
               threads: int, seconds: float, width: int) -> dict:
    client.load_models([uid], config)
    x = np.random.default_rng(0).standard_normal((1, width)).astype(np.float32)
    client.forward(uid, {"x": x})
    before = client.get_inference_statistics([uid])[0]
    start = threading.Barrier(threads + 1, timeout=60)
    counts = [0] * threads
    stop_at: list[float] = []

    def caller(index: int) -> None:
        with ModelManagerClient(endpoint, timeout_s=60) as own:
            own.forward(uid, {"x": x})
            start.wait()
            while time.monotonic() < stop_at[0]:
                own.forward(uid, {"x": x})
                counts[index] += 1

    workers = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    stop_at.append(time.monotonic() + 1.0 + seconds)
    start.wait()
    began = time.monotonic()
    for worker in workers:
        worker.join(seconds + 120)
    elapsed = time.monotonic() - began
    after = client.get_inference_statistics([uid])[0]
    client.unload_models([uid])
    runs = after["execution_count"] - before["execution_count"]
    rows = after["inference_count"] - before["inference_count"]
    return {"req_per_s": sum(counts) / elapsed, "mean_batch": rows / max(1, runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300, help="small-model round trips")
    parser.add_argument("--det-iterations", type=int, default=20)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=6.0, help="per config, over all rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mmbench") as tmp:
        tmp_path = Path(tmp)
        server = ServerProcess(tmp_path / "repo", f"ipc://{tmp}/mm.sock", tmp_path / "server.log",
                               "--workers", str(args.workers)).start()
        echo_proc = subprocess.Popen([sys.executable, "-c", ECHO, f"ipc://{tmp}/echo.sock"],
                                     stdout=subprocess.PIPE, text=True)
        echo = zmq.Context.instance().socket(zmq.REQ)
        echo.setsockopt(zmq.LINGER, 0)
        try:
            assert echo_proc.stdout.readline().strip() == "ready"
            echo.connect(f"ipc://{tmp}/echo.sock")
            with ModelManagerClient(server.endpoint, timeout_s=60) as client:
                run(args, client, server.endpoint, echo)
            echo.send(b"stop")
            echo.poll(5000)
        finally:
            echo.close(linger=0)
            echo_proc.kill()
            echo_proc.wait(10)
            server.stop()


def run(args, client: ModelManagerClient, endpoint: str, echo: zmq.Socket) -> None:
    print("load average at start: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"forward round trip, median ms (server: `edge model serve --workers {args.workers}`, "
          "ipc, intra_op_threads=1)")
    print(f"  {'model':28s} {'ort':>8s} {'zmq echo':>8s} {'sum':>8s} {'manager':>8s} {'ratio':>7s}")
    live = timed(lambda: client.call("is_server_live"), args.iterations)
    print(f"  {'(live: no model, no worker)':28s} {'':8s} {'':8s} {'':8s} {ms(live)}")
    ones = np.ones((1, 3), np.float32)
    small = latency("add_matmul [1, 3]", onnx_fixtures.add_matmul_model(), {"a": ones, "b": ones},
                    client, echo, args.iterations)
    image = np.random.default_rng(0).random((1, 3, 480, 640), dtype=np.float32)
    det = latency("PP-OCRv4 det [1, 3, 480, 640]", onnx_fixtures.ppocr_det_path().read_bytes(),
                  {"x": image}, client, echo, args.det_iterations)

    print(f"\nthroughput (median of {args.rounds} rounds), {args.threads} client threads x "
          f"{args.seconds:g} s, MatMul chain {args.depth} x {args.width}^2 float32, "
          "batch-1 requests")
    uid = client.upload_model(onnx_fixtures.matmul_chain_model(args.width, args.depth))
    runs = {"batching off, 1 instance": {},
            "batching off, 2 instances": {"instance_count": 2},
            "batching on (max 16), 1 instance": {"max_batch_size": 16}}
    rounds: dict[str, list[dict]] = {name: [] for name in runs}
    for _ in range(args.rounds):  # alternate, so load from elsewhere hits every config alike
        for name, config in runs.items():
            rounds[name].append(throughput(client, endpoint, uid, config, args.threads,
                                           args.seconds / args.rounds, args.width))
    rates = {}
    for name, results in rounds.items():
        rates[name] = statistics.median(r["req_per_s"] for r in results)
        batch = statistics.median(r["mean_batch"] for r in results)
        each = " ".join(f"{r['req_per_s']:.0f}" for r in results)
        print(f"  {name:34s} {rates[name]:8.1f} req/s (rounds: {each})  mean batch {batch:5.2f}")
    on = rates["batching on (max 16), 1 instance"]
    off1 = rates["batching off, 1 instance"]
    off2 = rates["batching off, 2 instances"]
    print(f"\nlatency ratio manager / (ort + echo): small {small:.2f}x, det {det:.2f}x "
          f"(target <= 1.5x)")
    print("load average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"throughput ratio on / off: {on / off1:.2f}x vs 1 instance, {on / off2:.2f}x vs "
          f"2 instances (target >= 2x)")


if __name__ == "__main__":
    main()
