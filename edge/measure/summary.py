"""Percentiles and the measurements.json document (schema in docs/MEASURE.md)."""
from __future__ import annotations

import math
import os
import platform
import sys
from importlib import metadata
from typing import Iterable, Optional

SCHEMA = "edge.measurements/1"
VERSIONED = ("edge-runtime", "pyzmq", "msgpack", "numpy", "onnxruntime", "opencv-python-headless")


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]; 0.0 when there are no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def distribution(values: list[float], digits: int = 3) -> dict:
    """count, mean, p50, p90, p99, max: the shape every latency and size is reported in."""
    if not values:
        return {"count": 0, "mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    return {"count": len(values), "mean": round(sum(values) / len(values), digits),
            **{f"p{q}": round(percentile(values, q), digits) for q in (50, 90, 99)},
            "max": round(max(values), digits)}


def mean_max(values: list[float], digits: int = 2) -> dict:
    if not values:
        return {"mean": None, "max": None}
    return {"mean": round(sum(values) / len(values), digits), "max": round(max(values), digits)}


def machine() -> dict:
    """Cores, load average and versions: what a reader needs to compare two runs fairly."""
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        import zmq
        versions["libzmq"] = zmq.zmq_version()
    except ImportError:
        pass
    return {"cores": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()],
            "python": sys.version.split()[0], "platform": platform.platform(),
            "machine": platform.machine(), "versions": versions}


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return round(b / a, 3) if a and b is not None else None


def build(run, machine_before: dict) -> dict:
    """The measurements.json document from a finished run (edge.measure.session.RunData)."""
    nodes = _nodes(run)
    topics = _topics(run)
    return {"schema": SCHEMA,
            "graph": {"name": run.graph.get("name"), "file": run.graph.get("file")},
            "run": {"started_ns": run.started_ns, "duration_s": round(run.measured_s, 3),
                    "warmup_s": run.options.warmup_s, "source": "live"},
            "machine": {**machine_before, "load_avg_after": machine()["load_avg"]},
            "nodes": nodes, "topics": topics,
            "end_to_end": _end_to_end(run, topics),
            "accuracy": _accuracy(run),
            "measurement": {"probe_dropped": sum(log.probe_dropped
                                                 for log in run.probe.logs.values())}}


def _node_counters(stats: dict, name: str) -> dict:
    return (stats.get("nodes") or {}).get(name) or {}


def _nodes(run) -> dict:
    types = {n["name"]: n["type"] for n in run.graph["nodes"]}
    restarts_before = run.stats_before.get("restarts") or {}
    out = {}
    for node in run.nodes:
        name = node["name"]
        series = run.sampler.series.get(name)
        after = _node_counters(run.stats_after, name)
        before = _node_counters(run.stats_before, name)
        inputs = {}
        for port, counts in (after.get("inputs") or {}).items():
            earlier = (before.get("inputs") or {}).get(port) or {}
            inputs[port] = {"topic": counts.get("topic"),
                            **{key: _delta(counts.get(key), earlier.get(key))
                               for key in ("received", "dropped", "decode_errors", "errors")
                               if key in counts}}
        out[name] = {
            "type": types.get(name), "state": node["state"],
            "restarts": node["restarts"] - restarts_before.get(name, 0),
            "cpu_percent": mean_max(series.cpu_percent if series else []),
            "rss_mb": mean_max(series.rss_mb if series else []),
            "input_drops": sum(p.get("dropped", 0) for p in inputs.values()),
            "handler_errors": sum(p.get("errors", 0) + p.get("decode_errors", 0)
                                  for p in inputs.values()),
            "inputs": inputs,
            "series": {"t_s": series.t_s if series else [],
                       "cpu_percent": series.cpu_percent if series else [],
                       "rss_mb": series.rss_mb if series else []}}
    return out


def _delta(after, before) -> int:
    after, before = after or 0, before or 0
    return after - before if after >= before else after   # a restart resets the counters


def _topics(run) -> dict:
    publishers = {topic: n["name"] for n in run.graph["nodes"] for topic in n["outputs"].values()}
    published_after, published_before = _published(run.stats_after), _published(run.stats_before)
    dropped = {}
    for name in publishers.values():
        for port in (_node_counters(run.stats_after, name).get("inputs") or {}).values():
            dropped[port.get("topic")] = dropped.get(port.get("topic"), 0) + port.get("dropped", 0)
    seconds = run.measured_s or 1.0
    out = {}
    for topic, log in sorted(run.probe.logs.items()):
        if topic in published_after and topic in published_before:
            published = _delta(published_after[topic], published_before[topic])
        else:  # the publisher did not answer a stats sample in time: count what arrived here
            published = log.messages + log.probe_dropped
        out[topic] = {"publisher": publishers.get(topic), "schema": log.schema or None,
                      "messages": published, "rate_hz": round(published / seconds, 3),
                      "received": log.messages,
                      "bytes_per_s": round(log.bytes / seconds, 1),
                      "size_bytes": mean_max(log.sizes, 1),
                      "dropped": dropped.get(topic, 0),
                      "latency_ms": distribution(log.latencies_ms),
                      "last_stats": log.last_stats}
    return out


def _published(stats: dict) -> dict:
    return {topic: count for node in (stats.get("nodes") or {}).values()
            for topic, count in (node.get("published") or {}).items()}


def _end_to_end(run, topics: dict) -> dict:
    """The result topic's capture -> result latency; by default the slowest derived topic."""
    sources = set(run.probe.sources)
    candidates = [t for t in (run.options.result_topics or topics)
                  if t in topics and t not in sources and topics[t]["schema"] not in (None, "Stats")
                  and topics[t]["latency_ms"]["count"]]
    if not candidates:
        return {"topic": None, "latency_ms": distribution([]), "frames_behind": mean_max([]),
                "results_per_s": 0.0, "series": {"t_s": [], "latency_ms": []}}
    topic = max(candidates, key=lambda t: topics[t]["latency_ms"]["p50"])
    log = run.probe.logs[topic]
    return {"topic": topic, "latency_ms": distribution(log.latencies_ms),
            "frames_behind": {**mean_max(log.frames_behind),
                              "p50": percentile(log.frames_behind, 50) if log.frames_behind
                              else None},
            "results_per_s": round(log.messages / (run.measured_s or 1.0), 3),
            "series": {"t_s": log.arrivals_s, "latency_ms": log.latencies_ms}}


def _accuracy(run) -> dict:
    return {topic: {"truth_topic": score.truth_topic, "correct": score.correct,
                    "total": score.total, "frames": score.frames,
                    "accuracy": round(score.correct / score.total, 4) if score.total else None}
            for (topic, _), score in sorted(run.probe.scores.items())}
