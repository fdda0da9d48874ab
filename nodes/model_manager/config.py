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
    """

    max_batch_size: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_delay_us: int = 0
    max_queue_size: int = 256
    instance_count: int = 1
    intra_op_threads: int = 1
    inter_op_threads: int = 1

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "preferred_batch_sizes":
                _check_int(f.name, getattr(self, f.name), minimum=0)
        for key in ("max_queue_size", "instance_count"):
            _check_int(key, getattr(self, key), minimum=1)
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
