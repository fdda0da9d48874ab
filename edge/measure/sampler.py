"""CPU and RSS of each node's process (and its children) over time, with psutil."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

import psutil


@dataclass
class NodeSeries:
    t_s: list = field(default_factory=list)
    cpu_percent: list = field(default_factory=list)   # 100 = one full core
    rss_mb: list = field(default_factory=list)


class ProcessSampler:
    """Sample each node's pid; a restarted node (new pid) is followed from its new process."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._start = clock()
        self._procs: dict[str, psutil.Process] = {}
        self.series: dict[str, NodeSeries] = {}

    def sample(self, pids: dict[str, Optional[int]]) -> None:
        t_s = round(self._clock() - self._start, 3)
        for name, pid in pids.items():
            series = self.series.setdefault(name, NodeSeries())
            usage = self._usage(name, pid)
            if usage is not None:
                series.t_s.append(t_s)
                series.cpu_percent.append(round(usage[0], 1))
                series.rss_mb.append(round(usage[1] / 2**20, 1))

    def _usage(self, name: str, pid: Optional[int]) -> Optional[tuple[float, int]]:
        if pid is None:
            self._procs.pop(name, None)
            return None
        proc = self._procs.get(name)
        try:
            if proc is None or proc.pid != pid:
                proc = self._procs[name] = psutil.Process(pid)
                proc.cpu_percent(None)           # the first call only starts the clock
                return None
            cpu, rss = proc.cpu_percent(None), proc.memory_info().rss
            for child in proc.children(recursive=True):
                try:
                    rss += child.memory_info().rss
                except psutil.Error:
                    continue
            return cpu, rss
        except psutil.Error:                      # exited between the listing and now
            self._procs.pop(name, None)
            return None
