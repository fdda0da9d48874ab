"""Where a launch's control endpoint listens.

One launch per endpoint: a live launch already answering there is refused, and the
socket file a dead one left behind is removed. Given tcp, the local ipc path is bound
as well, so nodes and local tools still find the graph without being told.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import zmq

from edge.client import Client
from edge.endpoints import ipc_endpoint, ipc_listening, remove_ipc
from edge.errors import EdgeError, FailedPrecondition, Unavailable
from edge.lookup import default_control_endpoint
from edge.service import Service


@dataclass
class ControlEndpoint:
    service: Service
    extra_ipc: Optional[str] = None   # the local ipc path, bound too when told tcp

    @property
    def endpoints(self) -> list[str]:
        return [self.service.endpoint] + ([self.extra_ipc] if self.extra_ipc else [])

    @property
    def for_nodes(self) -> str:
        """What a node on this host connects to."""
        if self.extra_ipc:
            return self.extra_ipc
        endpoint = self.service.endpoint
        for wildcard in ("tcp://0.0.0.0:", "tcp://*:"):
            if endpoint.startswith(wildcard):
                return "tcp://127.0.0.1:" + endpoint[len(wildcard):]
        return endpoint

    def close(self) -> None:
        self.service.process()  # replies still waiting, e.g. to `shutdown`
        self.service.close()
        if self.extra_ipc:
            remove_ipc(self.extra_ipc)


def bind(endpoint: Optional[str], name: str, log: Callable[[str], None]) -> ControlEndpoint:
    endpoint = endpoint or default_control_endpoint()
    refuse_if_running(endpoint)
    try:
        control = ControlEndpoint(Service(endpoint, name=name))
    except zmq.ZMQError as exc:
        raise Unavailable(f"cannot bind the control endpoint {endpoint}: {exc}") from None
    if not endpoint.startswith("ipc://"):
        local = ipc_endpoint("control")
        try:
            refuse_if_running(local)
            control.service.socket.bind(local)  # before serving: this thread owns the socket
            control.extra_ipc = local
        except (EdgeError, zmq.ZMQError) as exc:
            log(f"control is not also on {local} ({exc}); local tools need --endpoint")
    return control


def refuse_if_running(endpoint: str) -> None:
    """A live launch answers at this ipc path: refuse. A dead one's file: remove it."""
    if not endpoint.startswith("ipc://") or not Path(endpoint[len("ipc://"):]).exists():
        return
    if not ipc_listening(endpoint):
        remove_ipc(endpoint)  # stale: its supervisor died without cleaning up
        return
    try:
        with Client(endpoint, timeout_s=0.3, retries=0) as client:
            found = client.call("ping")
    except EdgeError:
        remove_ipc(endpoint)  # stale: its supervisor died without cleaning up
        return
    raise FailedPrecondition(
        f"graph {found.get('graph')!r} (pid {found.get('pid')}) is already running at "
        f"{endpoint}; stop it with `edge shutdown` or choose another endpoint with --control")
