"""Runs at once per model: Triton's fixed instance_count, or Launch's min/max_workers range."""
from __future__ import annotations

import numpy as np
import pytest

from edge.errors import InvalidArgument
from nodes.model_manager.batching import ModelQueue, Request
from nodes.model_manager.config import ModelConfig

pytestmark = pytest.mark.timeout(30)


def request(seq: int) -> Request:
    return Request({"x": np.zeros((1, 2), np.float32)}, f"r{seq}", 0, None, lambda v: None,
                   0, seq, 1, ())


def test_runs_at_once_follows_queue_depth():
    config = ModelConfig(min_workers=1, max_workers=3, per_worker=2)
    assert [config.runs_at_once(waiting, 0) for waiting in (0, 1, 2, 3, 4, 5, 6, 50)] == [
        1, 1, 1, 2, 2, 3, 3, 3]
    assert ModelConfig(max_workers=2).runs_at_once(0, 0) == 1  # scale to one, never to zero
    assert ModelConfig(instance_count=4).runs_at_once(0, 0) == 4


def test_a_queue_takes_more_batches_at_once_as_it_deepens():
    queue = ModelQueue(ModelConfig(min_workers=1, max_workers=3, per_worker=2), batchable=False)
    taken = []

    def take_all() -> None:
        while (batch := queue.take_batch(0)[0]) is not None:
            queue.inflight += 1
            taken.append(batch[0].request_id)

    queue.push(request(0))
    queue.push(request(1))
    take_all()
    assert taken == ["r0"]  # 2 in the model: one run
    for seq in range(2, 7):
        queue.push(request(seq))
    take_all()
    assert taken == ["r0", "r1", "r2"] and queue.inflight == 3  # capped by max_workers


@pytest.mark.parametrize("config, key", [
    ({"min_workers": 1}, "max_workers"),
    ({"min_workers": 3, "max_workers": 2}, "min_workers"),
    ({"instance_count": 2, "max_workers": 2}, "instance_count"),
    ({"per_worker": 0, "max_workers": 2}, "per_worker"),
])
def test_bad_worker_ranges_are_refused(config, key):
    with pytest.raises(InvalidArgument) as caught:
        ModelConfig.from_dict(config)
    assert caught.value.details["key"] == key


def test_a_loaded_model_scales_and_answers(manager, chain_bytes):
    uid = manager.upload_model(chain_bytes)
    manager.load_models([uid], config={"min_workers": 1, "max_workers": 2})
    x = np.ones((1, 256), np.float32)
    assert manager.forward(uid, {"x": x})["y"].shape == (1, 256)
    assert manager.get_model_config(uid)["config"]["max_workers"] == 2
