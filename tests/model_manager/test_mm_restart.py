"""Restart: rescanning the repository, restoring the loaded set, surviving kill -9."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from scheduling_probes import WAIT_S
from edge.errors import FailedPrecondition

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


def test_loaded_set_and_configs_survive_restart(make_manager, repo_dir, add_matmul_bytes,
                                                 chain_bytes, fixed_bytes):
    first = make_manager()
    a = first.upload_model(add_matmul_bytes, {"name": "a"})
    chain = first.upload_model(chain_bytes, {"name": "chain"})
    fixed = first.upload_model(fixed_bytes, {"name": "fixed"})
    first.load_models([a, fixed])
    first.load_models([chain], config={"max_batch_size": 8, "max_queue_delay_us": 500})
    first.unload_models([fixed])
    first.close()

    second = make_manager()
    assert second.is_model_ready(a) and second.is_model_ready(chain)
    assert not second.is_model_ready(fixed)
    assert {i.metadata.name for i in second.get_models_info()} == {"a", "chain", "fixed"}
    saved = json.loads((repo_dir / "loaded.json").read_text())["models"]
    assert saved[chain]["max_batch_size"] == 8 and saved[chain]["max_queue_delay_us"] == 500
    ones = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(second.forward(a, {"a": ones, "b": ones})["sum"], 2 * ones)


@pytest.mark.parametrize("damage", ["flip", "truncate", "metadata"])
def test_corrupt_model_is_reported_and_skipped(make_manager, repo_dir, caplog, damage,
                                               add_matmul_bytes, mixed_bytes):
    first = make_manager()
    bad = first.upload_model(add_matmul_bytes, {"name": "bad"})
    good = first.upload_model(mixed_bytes, {"name": "good"})
    first.load_models([bad, good])
    first.close()
    model_path = repo_dir / "models" / f"{bad}.onnx"
    data = model_path.read_bytes()
    if damage == "flip":
        model_path.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    elif damage == "truncate":
        model_path.write_bytes(data[: len(data) // 2])
    else:
        (repo_dir / "models" / f"{bad}.json").write_text("{not json")

    with caplog.at_level(logging.WARNING, logger="edge.model_manager"):
        second = make_manager()
    assert any(bad in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)
    assert [i.uid for i in second.get_models_info()] == [good]
    assert second.is_model_ready(good) and not second.is_model_ready(bad)
    entry = next(e for e in second.get_model_repository_index() if e["uid"] == bad)
    assert entry["state"] == "UNAVAILABLE"
    assert ("sha256" if damage != "metadata" else "metadata") in entry["reason"]
    with pytest.raises(FailedPrecondition):
        second.load_models([bad])


def test_crash_debris_is_cleaned(make_manager, repo_dir, add_matmul_bytes):
    first = make_manager()
    uid = first.upload_model(add_matmul_bytes)
    first.close()
    models = repo_dir / "models"
    (models / ".tmp-abc123").write_bytes(add_matmul_bytes[:50])  # a write cut short
    orphan = hashlib.sha256(b"never finished").hexdigest()
    (models / f"{orphan}.json").write_text("{}")  # died between the two renames
    (repo_dir / "uploads" / "deadbeef.part").write_bytes(b"partial")
    second = make_manager()
    assert sorted(p.name for p in models.iterdir()) == [f"{uid}.json", f"{uid}.onnx"]
    assert list((repo_dir / "uploads").iterdir()) == []
    assert [e["uid"] for e in second.get_model_repository_index()] == [uid]


CHILD = textwrap.dedent("""
    import hashlib, sys, time
    from pathlib import Path
    from nodes.model_manager import ModelManager

    repo, small, big = sys.argv[1], Path(sys.argv[2]).read_bytes(), Path(sys.argv[3]).read_bytes()
    manager = ModelManager(repo)
    uid = manager.upload_model(small, {"name": "small"})
    manager.load_models([uid])
    upload_id = manager.begin_upload(len(big), hashlib.sha256(big).hexdigest(), {"name": "big"})
    half = len(big) // 2
    for offset in range(0, half, 65536):
        manager.upload_chunk(upload_id, offset, big[offset:min(offset + 65536, half)])
    print("HALF", uid, flush=True)
    time.sleep(60)
""")


def read_line(proc: subprocess.Popen, timeout_s: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, "child did not report progress in time"
    return proc.stdout.readline()


def test_kill_9_mid_chunked_upload_leaves_no_partial_model(make_manager, tmp_path, repo_dir,
                                                           add_matmul_bytes, ppocr_bytes):
    small, big = tmp_path / "small.onnx", tmp_path / "big.onnx"
    small.write_bytes(add_matmul_bytes)
    big.write_bytes(ppocr_bytes)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(repo_dir), str(small), str(big)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        word, uid = read_line(proc, WAIT_S).split()
        assert word == "HALF"
        assert [p.stat().st_size for p in (repo_dir / "uploads").iterdir()] == [len(ppocr_bytes)]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(WAIT_S)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    manager = make_manager()
    assert [e["uid"] for e in manager.get_model_repository_index()] == [uid]
    assert list((repo_dir / "uploads").iterdir()) == []
    assert manager.is_model_ready(uid)
    big_uid = hashlib.sha256(ppocr_bytes).hexdigest()
    assert not any(big_uid in p.name for p in repo_dir.rglob("*"))
