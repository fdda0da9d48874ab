"""Starts node processes the way the supervisor does: `python -m edge.run` + $EDGE_NODE_CONFIG.

A stand-in for `edge launch` so these tests do not depend on the launcher: each node gets
one ipc endpoint for its outputs, each input connects to its topic's producer, and every
process is stopped (SIGTERM, grace, SIGKILL) when the graph closes.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from edge.config import NodeConfig
from edge.node import Node

REPO = Path(__file__).resolve().parents[2]
GRACE_S = 5.0


class Graph:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="edge-", dir="/tmp"))
        self.topics: dict[str, str] = {}      # topic -> producer endpoint
        self.procs: dict[str, subprocess.Popen] = {}
        self.configs: dict[str, NodeConfig] = {}
        self._probes: list[Node] = []

    def endpoint(self, name: str) -> str:
        return f"ipc://{self.dir}/{name}.sock"

    def start(self, specs: list[dict]) -> None:
        """Start nodes given as launch-file entries; inputs may name topics of any of them."""
        for spec in specs:
            for topic in (spec.get("outputs") or {}).values():
                self.topics[topic] = self.endpoint(spec["name"])
        for spec in specs:
            self.start_node(spec)

    def start_node(self, spec: dict) -> subprocess.Popen:
        name = spec["name"]
        outputs = spec.get("outputs") or {}
        for topic in outputs.values():
            self.topics[topic] = self.endpoint(name)
        inputs = {}
        for local, port in (spec.get("inputs") or {}).items():
            port = {"topic": port} if isinstance(port, str) else dict(port)
            port.setdefault("endpoint", self.topics.get(port["topic"]))
            inputs[local] = port
        config = NodeConfig(name=name, type=spec["type"], parameters=spec.get("parameters") or {},
                            inputs=inputs, outputs={k: {"topic": t} for k, t in outputs.items()},
                            endpoint=self.endpoint(name), service=spec.get("service"))
        env = dict(os.environ, EDGE_NODE_CONFIG=config.to_json(), EDGE_RUNTIME_DIR=str(self.dir),
                   PYTHONUNBUFFERED="1")
        for key, value in (spec.get("env") or {}).items():  # None removes a variable
            env.pop(key, None) if value is None else env.__setitem__(key, value)
        log = open(self.dir / f"{name}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "edge.run"], env=env, cwd=REPO,
                                stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs[name], self.configs[name] = proc, config
        return proc

    def probe(self, inputs: dict[str, str], queue_size: int = 1000) -> Node:
        """A Node in the test process reading `inputs` {local: topic} with a deep queue."""
        node = Node(f"probe-{len(self._probes)}", handle_signals=False, inputs={
            local: {"topic": topic, "endpoint": self.topics[topic], "queue_size": queue_size}
            for local, topic in inputs.items()})
        self._probes.append(node)
        return node

    def log(self, name: str) -> str:
        return (self.dir / f"{name}.log").read_text(errors="replace")

    def wait(self, name: str, timeout_s: float) -> int:
        return self.procs[name].wait(timeout=timeout_s)

    def assert_running(self) -> None:
        for name, proc in self.procs.items():
            assert proc.poll() is None, f"node {name} exited {proc.returncode}:\n{self.log(name)}"

    def close(self) -> dict[str, int]:
        """Stop every process (SIGTERM, grace, SIGKILL); their exit codes by name."""
        for node in self._probes:
            node.close()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE_S
        codes = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait(timeout=GRACE_S)
        return codes


def load_launch(path: Path, overrides: dict[str, dict] | None = None) -> list[dict]:
    """The node entries of a launch file, with per-node parameter overrides applied."""
    document = yaml.safe_load(Path(path).read_text())
    specs = []
    for entry in document["nodes"]:
        entry = dict(entry)
        entry["parameters"] = {**(entry.get("parameters") or {}),
                               **(overrides or {}).get(entry["name"], {})}
        specs.append(entry)
    return specs


def collect(node: Node, until, timeout_s: float) -> None:
    """Feed events to `until(event)` until it returns True; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while (remaining := deadline - time.monotonic()) > 0:
        event = node.next_event(timeout_s=min(remaining, 0.5))
        if event is not None and event.kind == "input" and until(event):
            return
    raise AssertionError(f"gave up after {timeout_s}s")
