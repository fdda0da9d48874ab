"""Probes that steer and observe the scheduler from tests, without timing assumptions.

A Gate holds a worker inside a result callback, which lets a test fill a
queue deterministically before any scheduling decision is made; a Collector
records outcomes in the order their callbacks ran.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from nodes.model_manager import ModelManager

WAIT_S = 20.0


class Gate:
    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.value: Any = None

    def on_done(self, value: Any) -> None:
        self.value = value
        self.entered.set()
        self.release.wait(WAIT_S)

    def hold(self, manager: ModelManager, uid: str, inputs: dict) -> None:
        manager.submit_forward(uid, inputs, on_done=self.on_done, request_id="gate")
        assert self.entered.wait(WAIT_S), "the gate request never completed"


class Collector:
    """Records outcomes in the order callbacks ran."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.outcomes: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._done = threading.Event()

    def callback(self, tag: str) -> Callable[[Any], None]:
        def on_done(value: Any) -> None:
            with self._lock:
                self.outcomes.append((tag, value))
                if len(self.outcomes) >= self.expected:
                    self._done.set()
        return on_done

    def wait(self) -> list[tuple[str, Any]]:
        assert self._done.wait(WAIT_S), f"only {len(self.outcomes)} of {self.expected} answered"
        return self.outcomes
