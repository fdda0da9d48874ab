"""Peer systems for bus_loop, when installed (`pip install -e '.[peers]'`): zenoh and dora-rs.

zenoh: two peer sessions over a unix socket (no scouting), one publisher and one
subscriber per direction, the stamp in the attachment. zenoh-python's recv() has no
timeout, so waits block once the link is up; the driver's deadline bounds the run.
Its ZBytes has no buffer interface, so the receiver copies the payload out (to_bytes),
as a zenoh Python user must.

dora-rs: a dataflow of two dynamic nodes (ping -> pong -> ping) started with the
dora CLI; the payload is a uint8 arrow array, the stamp in the metadata.
"""
from __future__ import annotations

import json
import os
import subprocess
import time

import numpy as np


def available() -> dict:
    found = {}
    try:
        import zenoh  # noqa: F401
        found["zenoh"] = (ZenohSender, ZenohReceiver)
    except ImportError:
        pass
    try:
        import dora  # noqa: F401
        import pyarrow  # noqa: F401
        if _dora_cli():
            found["dora"] = (DoraSender, DoraReceiver)
    except ImportError:
        pass
    return found


def _zenoh_session(paths: dict, listen: bool):
    import zenoh

    config = zenoh.Config()
    config.insert_json5("mode", '"peer"')
    config.insert_json5("scouting/multicast/enabled", "false")
    key = "listen/endpoints" if listen else "connect/endpoints"
    config.insert_json5(key, json.dumps([f"unixsock-stream/{paths['zenoh']}"]))
    return zenoh.open(config)


class _ZenohSide:
    def __init__(self, paths: dict, listen: bool, out_key: str, in_key: str):
        self.session = _zenoh_session(paths, listen)
        self.pub = self.session.declare_publisher(out_key)
        self.sub = self.session.declare_subscriber(in_key)
        self.linked = False

    def _next(self, timeout_s: float):
        sample = self.sub.try_recv()
        if sample is not None or timeout_s == 0:
            return sample
        if self.linked:
            return self.sub.recv()
        end = time.monotonic() + timeout_s
        while sample is None and time.monotonic() < end:
            time.sleep(0.001)
            sample = self.sub.try_recv()
        return sample

    def close(self) -> None:
        self.session.close()


class ZenohSender(_ZenohSide):
    def __init__(self, paths: dict):
        super().__init__(paths, True, "bench/data", "bench/ack")

    def send(self, stamp_ns: int, payload: np.ndarray) -> None:
        self.pub.put(payload.tobytes(), attachment=stamp_ns.to_bytes(8, "little"))

    def recv_ack(self, timeout_s: float):
        sample = self._next(timeout_s)
        if sample is None:
            return None
        count = int.from_bytes(sample.payload.to_bytes(), "little", signed=True)
        self.linked = self.linked or count < 0
        return count


class ZenohReceiver(_ZenohSide):
    def __init__(self, paths: dict):
        super().__init__(paths, False, "bench/ack", "bench/data")
        self.linked = True  # the receiver may block: the sender's BYE ends it

    def recv(self, timeout_s: float):
        sample = self._next(timeout_s)
        if sample is None:
            return None
        np.frombuffer(sample.payload.to_bytes(), np.uint8)
        return int.from_bytes(sample.attachment.to_bytes(), "little")

    def ack(self, count: int) -> None:
        self.pub.put(count.to_bytes(8, "little", signed=True))


# -- dora-rs --------------------------------------------------------------------------------
DATAFLOW = """nodes:
  - id: ping
    path: dynamic
    inputs:
      ack: {source: pong/ack, queue_size: 1000}
    outputs:
      - data
  - id: pong
    path: dynamic
    inputs:
      data: {source: ping/data, queue_size: 1000}  # the flood window, not dora's default 10
    outputs:
      - ack
"""


def _dora_cli() -> str | None:
    import shutil
    import sys

    local = os.path.join(os.path.dirname(sys.executable), "dora")
    return local if os.path.exists(local) else shutil.which("dora")


def dora_start(workdir: str) -> str:
    """Start the coordinator/daemon (if needed) and the dataflow; returns its id."""
    cli = _dora_cli()
    subprocess.run([cli, "up"], capture_output=True, timeout=30)  # a no-op when already up
    path = os.path.join(workdir, "dataflow.yml")
    with open(path, "w") as f:
        f.write(DATAFLOW)
    done = subprocess.run([cli, "start", path, "--detach"], check=True, capture_output=True,
                          text=True, timeout=60)
    return done.stdout.strip().split()[-1] if done.stdout.strip() else ""


def dora_stop(dataflow_id: str) -> None:
    cli = _dora_cli()
    subprocess.run([cli, "stop", dataflow_id], capture_output=True, timeout=30)


def dora_destroy() -> None:
    cli = _dora_cli()
    if cli:
        subprocess.run([cli, "destroy"], capture_output=True, timeout=30)


def _quiet_stderr() -> None:
    """dora-rs 1.1 logs a WARN line per large output (a diagnostic for dora#2742), ignoring
    RUST_LOG; errors still reach the driver as tracebacks through its queue."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


class DoraSender:
    def __init__(self, paths: dict):
        _quiet_stderr()
        from dora import Node

        self.node = Node("ping")

    def send(self, stamp_ns: int, payload: np.ndarray) -> None:
        import pyarrow as pa

        self.node.send_output("data", pa.array(payload.reshape(-1)), {"stamp_ns": stamp_ns})

    def recv_ack(self, timeout_s: float):
        event = self.node.next(timeout=max(timeout_s, 1e-6))
        if event is None or event["type"] != "INPUT":
            return None
        return int(event["value"][0].as_py())

    def close(self) -> None:
        pass


class DoraReceiver:
    def __init__(self, paths: dict):
        _quiet_stderr()
        from dora import Node

        self.node = Node("pong")

    def recv(self, timeout_s: float):
        event = self.node.next(timeout=timeout_s)
        if event is None or event["type"] != "INPUT":
            return None
        event["value"].to_numpy(zero_copy_only=True)
        return int(event["metadata"]["stamp_ns"])

    def ack(self, count: int) -> None:
        import pyarrow as pa

        self.node.send_output("ack", pa.array([count], pa.int64()))

    def close(self) -> None:
        pass
