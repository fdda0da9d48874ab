"""Abandoned chunked uploads never block other clients: a quota per client, expiry by a
timer, and the longest-idle upload gives up its slot when all are taken."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from edge.errors import NotFound, ResourceExhausted
from nodes.model_manager.client import ModelManagerClient
from nodes.model_manager.specs import ModelMetadata
from nodes.model_manager.uploads import EVICT_IDLE_S, UploadArea

BIG = 512 << 20  # what an abandoned upload may reserve: max_model_bytes


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.timeout(60)
def test_one_client_abandoning_uploads_does_not_block_another(server, add_matmul_bytes):
    with ModelManagerClient(server.endpoint, timeout_s=10) as greedy:
        begun = []
        with pytest.raises(ResourceExhausted, match="max_uploads_per_client"):
            for _ in range(4):
                begun.append(greedy.call("begin_upload", {"total_bytes": BIG, "sha256": "0" * 64},
                                         admin=True))
        assert len(begun) == 2
    with ModelManagerClient(server.endpoint, timeout_s=10) as other:  # main: RESOURCE_EXHAUSTED
        uid = other.upload_model(add_matmul_bytes, {"name": "after"}, chunk_bytes=256)
    assert uid == sha(add_matmul_bytes)


@pytest.mark.timeout(30)
def test_idle_uploads_expire_by_timer_without_another_begin(make_manager, repo_dir,
                                                            add_matmul_bytes):
    manager = make_manager(upload_ttl_s=0.3)
    for client in (b"a", b"b"):
        manager.begin_upload(BIG, sha(add_matmul_bytes), client=client)
    parts = repo_dir / "uploads"
    assert len(list(parts.iterdir())) == 2
    deadline = time.monotonic() + 10
    while list(parts.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(parts.iterdir()) == []  # main: kept until the next begin_upload


def test_when_all_slots_are_taken_the_longest_idle_upload_makes_room(tmp_path: Path):
    now = [0.0]
    area = UploadArea(tmp_path / "uploads", max_bytes=BIG, max_uploads=2, ttl_s=600,
                      clock=lambda: now[0])
    try:
        first = area.begin(100, "0" * 64, ModelMetadata(), b"a")
        now[0] += 1
        second = area.begin(100, "0" * 64, ModelMetadata(), b"b")
        with pytest.raises(ResourceExhausted, match="max_uploads"):
            area.begin(100, "0" * 64, ModelMetadata(), b"c")  # both are active
        now[0] += EVICT_IDLE_S
        area.write(second, 0, b"x")  # still active
        area.begin(100, "0" * 64, ModelMetadata(), b"c")
        with pytest.raises(NotFound, match="dropped after"):
            area.write(first, 0, b"x")
        assert area.write(second, 1, b"y") == 2
    finally:
        area.close()
