"""Tunables of the manager and of each loaded model, checked once at the edge.

Per-model configs arrive from remote peers as maps, so ``from_dict`` names the
offending key instead of failing later inside a worker thread.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edge.errors import InvalidArgument


@dataclass(frozen=True)
class ModelConfig:
    """Batching follows Triton: ``max_batch_size`` < 2 disables it.

    Like Triton's, it is opt-in because only the model's author knows that
    rows are independent (stacking them must not change any row's result).
    Priorities too: level 1 runs first, up to ``priority_levels``; a request's
    priority 0 means ``default_priority_level``.
    """

    max_batch_size: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_delay_us: int = 0
    max_queue_size: int = 256
    instance_count: int = 1
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    priority_levels: int = 10
    default_priority_level: int = 5
    min_workers: int = 0
    max_workers: int = 0
    per_worker: int = 1
    inline_max_us: int = 1000

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "preferred_batch_sizes":
                _check_int(f.name, getattr(self, f.name), minimum=0)
        for key in ("max_queue_size", "instance_count", "priority_levels",
                    "default_priority_level", "per_worker"):
            _check_int(key, getattr(self, key), minimum=1)
        self._check_workers()
        if self.default_priority_level > self.priority_levels:
            raise InvalidArgument(
                f"default_priority_level {self.default_priority_level} exceeds priority_levels "
                f"{self.priority_levels}", {"key": "default_priority_level"})
        sizes = self.preferred_batch_sizes
        if not isinstance(sizes, (tuple, list)):
            raise InvalidArgument("preferred_batch_sizes must be a list of integers",
                                  {"key": "preferred_batch_sizes"})
        for size in sizes:
            _check_int("preferred_batch_sizes", size, minimum=1)
            if size > self.max_batch_size:
                raise InvalidArgument(
                    f"preferred_batch_sizes: {size} exceeds max_batch_size "
                    f"{self.max_batch_size}", {"key": "preferred_batch_sizes"})
        object.__setattr__(self, "preferred_batch_sizes", tuple(sorted(set(sizes))))

    @property
    def batching(self) -> bool:
        return self.max_batch_size >= 2

    def _check_workers(self) -> None:
        if self.max_workers == 0:
            if self.min_workers:
                raise InvalidArgument("min_workers needs max_workers", {"key": "max_workers"})
            return
        if self.instance_count != 1:
            raise InvalidArgument("give instance_count (a fixed number of runs at once) or "
                                  "min_workers/max_workers (a range), not both",
                                  {"key": "instance_count"})
        if self.min_workers > self.max_workers:
            raise InvalidArgument(f"min_workers {self.min_workers} exceeds max_workers "
                                  f"{self.max_workers}", {"key": "min_workers"})

    def runs_at_once(self, waiting: int, running: int) -> int:
        """Triton's fixed instance_count, or Launch's range: one more run per `per_worker`
        requests in the model's queue or running, between min_workers and max_workers."""
        if self.max_workers == 0:
            return self.instance_count
        wanted = -(-(waiting + running) // self.per_worker)
        return max(1, self.min_workers, min(wanted, self.max_workers))

    def priority_level(self, priority: int) -> int:
        """Triton's meaning: 0 is the default level, 1 the most urgent."""
        level = self.default_priority_level if priority == 0 else priority
        if not 1 <= level <= self.priority_levels:
            raise InvalidArgument(
                f"priority must be 0 (the default, {self.default_priority_level}) or 1 (most "
                f"urgent) to {self.priority_levels}, got {priority}", {"key": "priority"})
        return level

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["preferred_batch_sizes"] = list(self.preferred_batch_sizes)
        return raw

    @classmethod
    def from_dict(cls, raw: ModelConfig | Mapping[str, Any] | None) -> ModelConfig:
        if raw is None:
            return cls()
        if isinstance(raw, cls):
            return raw
        if not isinstance(raw, Mapping):
            raise InvalidArgument(f"model config must be a map, got {type(raw).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in raw if k not in known)
        if unknown:
            raise InvalidArgument(f"model config: unknown key {unknown[0]!r}; allowed keys "
                                  f"are {sorted(known)}", {"key": unknown[0]})
        return cls(**raw)


@dataclass(frozen=True)
class ManagerConfig:
    max_model_bytes: int = 512 * 1024 * 1024
    workers: int = field(default_factory=lambda: max(2, os.cpu_count() or 2))
    max_uploads: int = 4
    max_uploads_per_client: int = 2
    upload_ttl_s: float = 600.0
    max_tasks: int = 1024
    task_ttl_s: float = 300.0
    default_model_config: ModelConfig = field(default_factory=ModelConfig)

    def __post_init__(self) -> None:
        for key in ("max_model_bytes", "workers", "max_uploads", "max_uploads_per_client",
                    "max_tasks"):
            _check_int(key, getattr(self, key), minimum=1)
        for key in ("upload_ttl_s", "task_ttl_s"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise InvalidArgument(f"{key} must be a positive number, got {value!r}",
                                      {"key": key})


def default_repo_dir() -> Path:
    """$EDGE_MODEL_REPO, else $XDG_DATA_HOME/edge/models, else ~/.local/share/edge/models."""
    explicit = os.environ.get("EDGE_MODEL_REPO")
    if explicit:
        return Path(explicit)
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "edge" / "models"


def _check_int(key: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{key} must be an integer, got {type(value).__name__}",
                              {"key": key})
    if value < minimum:
        raise InvalidArgument(f"{key} must be at least {minimum}, got {value}", {"key": key})
