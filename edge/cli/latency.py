"""`edge topic latency`'s figures: capture -> here, and per hop when messages carry a trail.

A trail [[n0, r0, p0], ..., [nk, rk, pk]] arriving here at `here_ns` splits into segments
that add up to here - r0: time inside each node (p - r) and the wait between nodes (the
next node's r minus the previous node's p: sockets, queues and the wait for the loop).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

PERCENTILES = (50, 90, 99)


def segments(trail: list, here_ns: int) -> list[tuple[str, int]]:
    """(label, ns) per segment, in order: "in NODE" and "NODE -> NEXT" (the last to "here")."""
    found = []
    for index, (node, recv_ns, pub_ns) in enumerate(trail):
        found.append((f"in {node}", pub_ns - recv_ns))
        if index + 1 < len(trail):
            found.append((f"{node} -> {trail[index + 1][0]}", trail[index + 1][1] - pub_ns))
    node, _, pub_ns = trail[-1]
    found.append((f"{node} -> here", here_ns - pub_ns))
    return found


@dataclass
class LatencySamples:
    """What arrived: capture and publish ages, and per-hop segments grouped by the trail's path."""

    capture_ms: list = field(default_factory=list)
    publish_ms: list = field(default_factory=list)
    paths: dict = field(default_factory=dict)      # (node, ...) -> [[segment ms...], ...]
    totals: dict = field(default_factory=dict)     # (node, ...) -> [first hop's recv -> here ms]
    untrailed: int = 0

    def add(self, stamp_ns: int, pub_ns: int, trail: Optional[list], here_ns: int) -> None:
        self.capture_ms.append((here_ns - stamp_ns) / 1e6)
        self.publish_ms.append((here_ns - pub_ns) / 1e6)
        if not trail:
            self.untrailed += 1
            return
        path = tuple(hop[0] for hop in trail)
        self.paths.setdefault(path, []).append([ns / 1e6 for _, ns in segments(trail, here_ns)])
        self.totals.setdefault(path, []).append((here_ns - trail[0][1]) / 1e6)

    def lines(self, name: str) -> list[str]:
        out = [f"{name}: {len(self.capture_ms)} messages"]
        for label, values in (("capture -> here", self.capture_ms),
                              ("publish -> here", self.publish_ms)):
            p50, p99 = np.percentile(values, [50, 99])
            out.append(f"  {label}: p50 {p50:.2f} ms  p99 {p99:.2f} ms  max {max(values):.2f} ms")
        if self.paths:
            out.extend(self._hop_table())
        return out

    def _hop_table(self) -> list[str]:
        """The most common path's segments; the other paths and untrailed messages counted."""
        path = max(self.paths, key=lambda p: len(self.paths[p]))
        rows = np.array(self.paths[path])
        labels = [label for label, _ in segments([[n, 0, 0] for n in path], 0)]
        out = [f"  per hop ({len(rows)} messages with trail {' > '.join(path)}), ms:",
               f"    {'SEGMENT':<32} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8} {'mean':>8}"]
        for label, column in zip(labels, rows.T):
            out.append(_row(label, column))
        out.append(_row("total (first hop -> here)", np.array(self.totals[path])))
        for other, samples in sorted(self.paths.items(), key=lambda item: -len(item[1])):
            if other != path:
                out.append(f"  also {len(samples)} messages with trail {' > '.join(other)}")
        if self.untrailed:
            out.append(f"  {self.untrailed} messages without a trail")
        return out


def _row(label: str, values: np.ndarray) -> str:
    p50, p90, p99 = np.percentile(values, PERCENTILES)
    return (f"    {label:<32} {p50:8.2f} {p90:8.2f} {p99:8.2f} {values.max():8.2f} "
            f"{values.mean():8.2f}")
