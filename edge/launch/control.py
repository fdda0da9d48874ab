"""Python access to a running launch's control endpoint (docs/CONTROL.md).

    with ControlClient() as graph:      # the local launch; or ControlClient("tcp://robot:5550")
        print(graph.nodes())
        graph.param_set("detector", "threshold", 0.4)
        graph.restart("camera")
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from edge.client import Client
from edge.endpoints import ipc_listening
from edge.errors import Unavailable
from edge.lookup import default_control_endpoint

WAIT_TIMEOUT_S = 30.0  # node.start / stop / restart reply once the node settled


def find_control(control: Optional[str] = None) -> str:
    """The given control endpoint (used as is: its launch may still be starting), or the
    local launch's; Unavailable at once when nothing listens at the local one."""
    if control:
        return control
    found = default_control_endpoint()
    if not ipc_listening(found):
        path = found[len("ipc://"):]
        why = "a stale control socket" if Path(path).exists() else "no control socket"
        raise Unavailable(f"no running launch found ({why} at {path}); start one with "
                          "`edge launch FILE`, or pass --control for a remote one")
    return found


class ControlClient:
    """`control`: the control endpoint of the launch (default: the local one)."""

    def __init__(self, control: Optional[str] = None, *, timeout_s: float = 3.0, retries: int = 1):
        self.endpoint = find_control(control)
        self._client = Client(self.endpoint, timeout_s=timeout_s, retries=retries)

    def call(self, method: str, body: Any = None, *, timeout_s: float | None = None) -> Any:
        return self._client.call(method, body, timeout_s=timeout_s)

    def ping(self) -> dict:
        return self.call("ping")

    def nodes(self) -> list:
        return self.call("nodes")

    def topics(self) -> list:
        return self.call("topics", timeout_s=5.0)

    def resolve(self, topic: str) -> dict:
        return self.call("resolve", {"topic": topic})

    def stop(self, node: str) -> dict:
        return self.call("node.stop", {"node": node}, timeout_s=WAIT_TIMEOUT_S)

    def start(self, node: str) -> dict:
        return self.call("node.start", {"node": node}, timeout_s=WAIT_TIMEOUT_S)

    def restart(self, node: str) -> dict:
        return self.call("node.restart", {"node": node}, timeout_s=WAIT_TIMEOUT_S)

    def param_get(self, node: str, key: Optional[str] = None) -> Any:
        return self.call("param.get", {"node": node, **({"key": key} if key is not None else {})})

    def param_set(self, node: str, key: str, value: Any) -> dict:
        return self.call("param.set", {"node": node, "key": key, "value": value})

    def stats(self, node: Optional[str] = None) -> dict:
        return self.call("stats", {"node": node} if node else {}, timeout_s=10.0)

    def shutdown(self) -> dict:
        return self.call("shutdown")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "ControlClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
