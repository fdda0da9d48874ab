"""One measured run: launch the graph, watch it for a while, stop it, gather the numbers.

The graph runs as `edge launch` runs it (its own supervisor process, a private runtime
directory and control endpoint), so what is measured is what a user deploys. Everything
the session learns comes through the control endpoint, the nodes' own stats and a probe
that subscribes like any ad-hoc script.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from edge.errors import EdgeError, Unavailable
from edge.launch.control import ControlClient
from edge.measure.probe import Probe, Scorer
from edge.measure.sampler import ProcessSampler
from edge.nodetype import NodeType, load_node_type

SAMPLE_PERIOD_S = 0.5
STOP_TIMEOUT_S = 20.0


@dataclass
class Options:
    duration_s: float = 20.0
    warmup_s: float = 2.0
    ready_timeout_s: float = 120.0
    result_topics: tuple = ()                       # default: every derived, non-Stats topic
    scorers: dict = field(default_factory=dict)     # output topic -> (truth topic, Scorer)
    progress: Optional[Callable[[float, float, str], None]] = None


@dataclass
class RunData:
    graph: dict
    options: Options
    started_ns: int
    measured_s: float
    stats_before: dict
    stats_after: dict
    nodes: list
    sampler: ProcessSampler
    probe: Probe
    launch_exit: Optional[int] = None


class Session:
    """Owns the launched graph's process: always stopped, whatever happens in between."""

    def __init__(self, launch_file: Path, out_dir: Path, options: Options):
        self.launch_file, self.out_dir, self.options = launch_file, out_dir, options
        self._runtime = Path(tempfile.mkdtemp(prefix="edge-measure-", dir="/tmp"))
        self.control = f"ipc://{self._runtime}/control.sock"
        self._launch: Optional[subprocess.Popen] = None

    def run(self) -> RunData:
        try:
            self.start()
            with ControlClient(self.control, timeout_s=3.0, retries=1) as control:
                self.wait_ready(control)
                return self._measure(control)
        finally:
            self.stop()
            shutil.rmtree(self._runtime, ignore_errors=True)

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "EDGE_RUNTIME_DIR": str(self._runtime)}
        with open(self.out_dir / "launch.log", "wb") as log_file:
            self._launch = subprocess.Popen(
                [sys.executable, "-c", "from edge.cli import main; main()", "launch",
                 str(self.launch_file), "--control", self.control, "--no-color"],
                env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, control: ControlClient) -> None:
        deadline = time.monotonic() + self.options.ready_timeout_s
        while time.monotonic() < deadline:
            if self._launch.poll() is not None:
                raise EdgeError(f"the graph stopped before it was ready (exit code "
                                f"{self._launch.returncode}); see {self.out_dir / 'launch.log'}")
            try:
                nodes = control.nodes()
                if nodes and all(n["ready"] for n in nodes):
                    return
            except (EdgeError, OSError):
                pass
            self._progress(0.0, "starting the graph")
            time.sleep(0.2)
        raise Unavailable(f"the graph's nodes were not ready within "
                          f"{self.options.ready_timeout_s:.0f} s; "
                          f"see {self.out_dir / 'launch.log'}")

    def _measure(self, control: ControlClient) -> RunData:
        graph = control.call("graph")
        probe = self._probe(graph)
        probe.start()
        sampler = ProcessSampler()
        try:
            self._sample_for(control, sampler, self.options.warmup_s, "warming up")
            stats_before, started_ns = snapshot(control), time.time_ns()
            probe.recording, start = True, time.monotonic()
            nodes = self._sample_for(control, sampler, self.options.duration_s, "measuring")
            measured_s = time.monotonic() - start
            probe.recording = False
            stats_after = snapshot(control)
        finally:
            probe.stop()
        return RunData(graph, self.options, started_ns, measured_s, stats_before, stats_after,
                       nodes, sampler, probe)

    def _sample_for(self, control: ControlClient, sampler: ProcessSampler, seconds: float,
                    label: str) -> list:
        start, nodes = time.monotonic(), []
        while True:
            elapsed = time.monotonic() - start
            nodes = control.nodes()
            if label == "measuring":
                sampler.sample({n["name"]: n["pid"] for n in nodes})
            self._progress(min(1.0, elapsed / seconds) if seconds else 1.0,
                           f"{label} {elapsed:4.1f}/{seconds:.0f} s")
            if elapsed >= seconds:
                return nodes
            time.sleep(min(SAMPLE_PERIOD_S, max(0.0, seconds - elapsed)))

    def _probe(self, graph: dict) -> Probe:
        topics, sources, truths = watched_topics(graph)
        return Probe(self.control, topics, sources=sources, truths=truths,
                     scorers=dict(self.options.scorers))

    def _progress(self, fraction: float, text: str) -> None:
        if self.options.progress is not None:
            self.options.progress(fraction, self.options.duration_s, text)

    def stop(self) -> None:
        launch = self._launch
        if launch is None or launch.poll() is not None:
            return
        launch.send_signal(signal.SIGINT)
        try:
            launch.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(launch.pid, signal.SIGKILL)
            launch.wait(timeout=5)


def snapshot(control: ControlClient) -> dict:
    """Every node's stats; a node too busy to answer the first time is asked once more."""
    stats = control.stats()
    for name, node_stats in (stats.get("nodes") or {}).items():
        if "error" in node_stats:
            try:
                stats["nodes"][name] = control.stats(name)
            except EdgeError:
                continue
    return stats


def watched_topics(graph: dict) -> tuple[list[str], list[str], dict[str, Scorer]]:
    """(every topic, topics of source nodes, truth topic -> scorer from its node type)."""
    topics, sources, truths = [], [], {}
    for node in graph["nodes"]:
        node_type = _node_type(node["type"])
        for port, topic in node["outputs"].items():
            topics.append(topic)
            if not node["inputs"]:
                sources.append(topic)
            if node_type is not None and port in node_type.truth_outputs:
                truths[topic] = _type_scorer(node_type, port)
    return sorted(set(topics)), sources, truths


def _node_type(name: str) -> Optional[type[NodeType]]:
    try:
        found = load_node_type(name)
    except LookupError:
        return None
    return found if isinstance(found, type) else None


def _type_scorer(node_type: type[NodeType], port: str) -> Scorer:
    return lambda truth, value: node_type.score(port, truth, value)
