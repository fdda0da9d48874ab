"""Async requests: task ids, states, and bounded retention."""
from __future__ import annotations

import time

import numpy as np
import pytest

from scheduling_probes import WAIT_S
from edge.errors import DeadlineExceeded, NotFound, ResourceExhausted
from nodes.model_manager.tasks import TaskStore

pytestmark = pytest.mark.timeout(60)


def poll(manager, task_id: str) -> dict:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        reply = manager.get_async_response(task_id)
        if reply["state"] != "PENDING":
            return reply
        time.sleep(0.005)
    raise AssertionError(f"task {task_id} still pending after {WAIT_S} s")


def test_async_request_succeeds(manager, add_matmul_bytes):
    uid = manager.upload_model(add_matmul_bytes)
    manager.load_models([uid])
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    task_id = manager.async_request(uid, {"a": a, "b": a}, request_id="job-1")
    reply = poll(manager, task_id)
    assert reply["state"] == "SUCCESS" and reply["request_id"] == "job-1"
    assert reply["task_id"] == task_id and "error" not in reply
    np.testing.assert_allclose(reply["result"]["sum"], 2 * a)


def test_async_failure_carries_code_and_message(make_manager, gate, chain_bytes):
    manager = make_manager(workers=1)
    uid = manager.upload_model(chain_bytes)
    manager.load_models([uid])
    x = {"x": np.zeros((1, 256), np.float32)}
    gate.hold(manager, uid, x)
    deadline_ns = time.monotonic_ns() + 20_000_000
    task_id = manager.async_request(uid, x, deadline_ns=deadline_ns)
    assert manager.get_async_response(task_id)["state"] == "PENDING"
    while time.monotonic_ns() <= deadline_ns:   # the deadline passes while the worker is held
        time.sleep(0.005)
    gate.release.set()
    reply = poll(manager, task_id)
    assert reply["state"] == "FAILURE" and "result" not in reply
    assert reply["error"]["code"] == "DEADLINE_EXCEEDED" and reply["error"]["message"]


def test_async_request_errors_are_raised_at_once(manager, add_matmul_bytes):
    uid = manager.upload_model(add_matmul_bytes)
    with pytest.raises(NotFound):
        manager.async_request("e" * 64, {})
    manager.load_models([uid])
    ones = np.ones((1, 3), np.float32)
    with pytest.raises(DeadlineExceeded):
        manager.async_request(uid, {"a": ones, "b": ones}, deadline_ns=0)
    with pytest.raises(NotFound):
        manager.get_async_response("no-such-task")


def test_store_evicts_oldest_finished_when_full():
    store = TaskStore(max_tasks=3, ttl_s=100.0, clock=lambda: 0.0)
    first, second, third = store.create(), store.create(), store.create()
    store.complete(second, {"y": 1})
    store.complete(first, ValueError("boom"))
    fourth = store.create()  # evicts `second`, the first to finish
    with pytest.raises(NotFound):
        store.get(second)
    assert store.get(first)["error"]["code"] == "INTERNAL"
    assert store.get(third)["state"] == "PENDING" and store.get(fourth)["state"] == "PENDING"
    store.create()  # evicts `first`
    with pytest.raises(ResourceExhausted, match="pending"):
        store.create()  # three pending tasks are never evicted


def test_store_forgets_finished_tasks_after_ttl():
    now = [0.0]
    store = TaskStore(max_tasks=10, ttl_s=5.0, clock=lambda: now[0])
    done, pending = store.create(), store.create()
    store.complete(done, {"y": 2})
    now[0] = 4.9
    assert store.get(done)["result"] == {"y": 2}
    now[0] = 5.1
    with pytest.raises(NotFound):
        store.get(done)
    now[0] = 1000.0
    assert store.get(pending)["state"] == "PENDING"


def test_manager_task_retention_is_bounded(make_manager, add_matmul_bytes):
    manager = make_manager(max_tasks=2)
    uid = manager.upload_model(add_matmul_bytes)
    manager.load_models([uid])
    ones = np.ones((1, 3), np.float32)
    ids = []
    for _ in range(3):
        ids.append(manager.async_request(uid, {"a": ones, "b": ones}))
        poll(manager, ids[-1])
    with pytest.raises(NotFound):
        manager.get_async_response(ids[0])
    assert [manager.get_async_response(t)["state"] for t in ids[1:]] == ["SUCCESS"] * 2
