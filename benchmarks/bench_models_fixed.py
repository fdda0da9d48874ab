"""The model manager's fixed cost per request, against raw pyzmq in the same run.

Variants, interleaved call by call and repeated over rounds (another process, ipc):
  ort       onnxruntime called directly on the tiny model (add_matmul, [1, 3] float32)
  echo      a raw pyzmq REQ/REP echo of the same input frames
  raw       a raw pyzmq REP server that runs the same onnxruntime session on them
  manager   ModelManagerClient.forward to `edge model serve`
  ping      a raw REQ/REP echo of one 64-byte frame
  live      ModelManagerClient.call("is_server_live")
Ratios per round: manager / (ort + echo), manager / raw, live / ping.
Target: manager <= 1.5 x (ort + echo).

Run from the repository root:  python benchmarks/bench_models_fixed.py
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "model_manager"), str(ROOT / "benchmarks")]

import onnx_fixtures  # noqa: E402
from bench_models import ECHO, interleaved  # noqa: E402
from nodes.model_manager.client import ModelManagerClient  # noqa: E402
from server_process import ServerProcess  # noqa: E402

# A user's "few lines of pyzmq": REP, frames -> arrays, session.run, outputs back.
RAW_SERVER = textwrap.dedent("""
    import sys, numpy as np, onnxruntime as ort, zmq
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(open(sys.argv[2], "rb").read(), options,
                                   providers=["CPUExecutionProvider"])
    socket = zmq.Context.instance().socket(zmq.REP)
    socket.bind(sys.argv[1])
    print("ready", flush=True)
    while True:
        a, b = socket.recv_multipart(copy=False)
        if len(a) == 4 and a.bytes == b"stop":
            socket.send(b"")
            break
        feeds = {"a": np.frombuffer(a, np.float32).reshape(1, 3),
                 "b": np.frombuffer(b, np.float32).reshape(1, 3)}
        socket.send_multipart(session.run(None, feeds), copy=False)
""")


def start(script: str, endpoint: str, *args: str) -> tuple[subprocess.Popen, zmq.Socket]:
    proc = subprocess.Popen([sys.executable, "-c", script, endpoint, *args],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    socket = zmq.Context.instance().socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    return proc, socket


def stop(proc: subprocess.Popen, socket: zmq.Socket, message: list) -> None:
    try:
        socket.send_multipart(message)
        socket.poll(5000)
    finally:
        socket.close(linger=0)
        proc.kill()
        proc.wait(10)


def one_round(calls: dict, iterations: int) -> dict[str, float]:
    samples = interleaved(list(calls.values()), iterations)
    return {name: statistics.median(s) for name, s in zip(calls, samples)}


def spread(values: list[float]) -> str:
    middle = statistics.median(values)
    return f"min {min(values):5.2f}  median {middle:5.2f}  max {max(values):5.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300, help="calls per variant per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    model = onnx_fixtures.add_matmul_model()
    ones = np.ones((1, 3), np.float32)
    inputs = {"a": ones, "b": ones}
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    with tempfile.TemporaryDirectory(prefix="mmfixed") as tmp:
        (Path(tmp) / "model.onnx").write_bytes(model)
        server = ServerProcess(Path(tmp) / "repo", f"ipc://{tmp}/mm.sock",
                               Path(tmp) / "server.log", "--workers", str(args.workers)).start()
        echo_proc, echo = start(ECHO, f"ipc://{tmp}/echo.sock")
        raw_proc, raw = start(RAW_SERVER, f"ipc://{tmp}/raw.sock", f"{tmp}/model.onnx")
        try:
            with ModelManagerClient(server.endpoint, timeout_s=60) as client:
                uid = client.upload_model(model)
                client.load_models([uid])
                frames, small = [ones, ones], [b"x" * 64]

                def round_trip(socket: zmq.Socket, message: list):
                    return lambda: (socket.send_multipart(message, copy=False),
                                    socket.recv_multipart(copy=False))

                calls = {"ort": lambda: session.run(None, inputs),
                         "echo": round_trip(echo, frames), "raw": round_trip(raw, frames),
                         "manager": lambda: client.forward(uid, inputs, timeout_s=60),
                         "ping": round_trip(echo, small),
                         "live": lambda: client.call("is_server_live")}
                report(args, calls)
                stats = client.get_inference_statistics([uid])[0]
                print(f"runs on the socket thread (inline): {stats['inline_count']} of "
                      f"{stats['execution_count']}")
        finally:
            stop(echo_proc, echo, [b"stop"])
            stop(raw_proc, raw, [b"stop", b""])
            server.stop()


def report(args, calls: dict) -> None:
    print("load average at start: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"median µs per call, {args.iterations} calls per variant per round, interleaved; "
          f"server `edge model serve --workers {args.workers}`, ipc, intra_op_threads=1")
    print("  round " + "".join(f"{name:>9s}" for name in calls)
          + "   mgr/(ort+echo)  mgr/raw  live/ping")
    ratios: dict[str, list[float]] = {"fwd": [], "raw": [], "live": []}
    for index in range(args.rounds):
        m = one_round(calls, args.iterations)
        ratios["fwd"].append(m["manager"] / (m["ort"] + m["echo"]))
        ratios["raw"].append(m["manager"] / m["raw"])
        ratios["live"].append(m["live"] / m["ping"])
        print(f"  {index + 1:5d} " + "".join(f"{1e6 * m[name]:9.1f}" for name in calls)
              + f"   {ratios['fwd'][-1]:14.2f} {ratios['raw'][-1]:8.2f} {ratios['live'][-1]:10.2f}")
    print(f"manager forward / (ort + raw echo): {spread(ratios['fwd'])}  (target <= 1.5)")
    print(f"manager forward / raw REP server:   {spread(ratios['raw'])}")
    print(f"live / raw 64 B echo:               {spread(ratios['live'])}")
    print("load average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
