"""Topic rates and drops from node stats counters, with a fake clock."""
from __future__ import annotations

import pytest

from edge.launch.topicstats import TopicRates, counters, errors

pytestmark = pytest.mark.timeout(10)

STATS = {
    "camera": {"published": {"camera/image": 100}, "inputs": {}},
    "detector": {"published": {"boxes": 40},
                 "inputs": {"image": {"topic": "camera/image", "received": 60, "dropped": 30}}},
    "viz": {"inputs": {"image": {"topic": "camera/image", "received": 90, "dropped": 2,
                                 "decode_errors": 3, "handler_errors": 1},
                       "hint": {"topic": "probe/hint", "received": 7, "dropped": 1}}},
    "broken": {"error": "UNAVAILABLE: no answer"},
}


def test_counters_prefer_the_publisher_and_sum_drops():
    published, dropped = counters(STATS)
    assert published == {"camera/image": 100, "boxes": 40, "probe/hint": 8}  # external: 7 + 1
    assert dropped == {"camera/image": 32, "probe/hint": 1}


def test_errors_sum_bad_messages_and_failed_callbacks_per_topic():
    assert errors(STATS) == {"camera/image": 4, "probe/hint": 0}


def test_rates_between_samples_and_after_a_publisher_restart():
    now = [10.0]
    rates = TopicRates(clock=lambda: now[0])
    assert rates.needs_second_sample()
    assert rates.update({"a": 100}) == {"a": None}
    now[0] += 2.0
    assert not rates.needs_second_sample()
    assert rates.update({"a": 130, "b": 10}) == {"a": 15.0, "b": 5.0}
    now[0] += 1.0
    assert rates.update({"a": 4, "b": 10}) == {"a": 4.0, "b": 0.0}  # a restarted: seq from 1
    now[0] += 31.0
    assert rates.needs_second_sample()
