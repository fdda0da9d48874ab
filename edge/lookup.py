"""Where a topic lives when a node's config does not say: ask the graph's control endpoint."""
from __future__ import annotations

import logging
import os
from typing import Optional

import zmq

from edge.client import Client
from edge.config import CONTROL_ENV_VAR, NodeConfig, OutputConfig
from edge.endpoints import ipc_endpoint, ipc_listening
from edge.errors import EdgeError, NotFound

log = logging.getLogger("edge.lookup")


def default_control_endpoint() -> str:
    """Where `edge launch` listens unless told otherwise ($EDGE_CONTROL overrides)."""
    return os.environ.get(CONTROL_ENV_VAR) or ipc_endpoint("control")


class Lookup:
    def __init__(self, config: NodeConfig, context: zmq.Context):
        self._config, self._context = config, context
        self._outputs: dict[str, OutputConfig] = {}

    def control_endpoint(self) -> Optional[str]:
        """The configured control endpoint, or a local running launch's, or None."""
        endpoint = self._config.control or default_control_endpoint()
        return endpoint if ipc_listening(endpoint) else None

    def _ask(self, method: str, body: dict, timeout_s: float = 1.0):
        endpoint = self.control_endpoint()
        if endpoint is None:
            return None
        with Client(endpoint, timeout_s=timeout_s, retries=0, context=self._context) as client:
            return client.call(method, body)

    def input_endpoint(self, topic: str) -> str:
        try:
            found = self._ask("resolve", {"topic": topic})
        except NotFound:
            found = None
        except EdgeError as exc:
            raise NotFound(f"topic {topic!r}: no endpoint given and the graph did not answer ({exc})")
        if not found:
            raise NotFound(f"topic {topic!r}: no endpoint given and no running graph publishes it")
        return found["endpoint"]

    def output(self, topic: str) -> OutputConfig:
        """An output for a topic not in the config: an `external` topic of a running graph
        binds where the graph's subscribers connect; any other binds the node's endpoint."""
        port = self._outputs.get(topic)
        if port is None:
            try:
                found = self._ask("resolve", {"topic": topic}, timeout_s=0.5)
            except EdgeError:
                found = None
            endpoint = found["endpoint"] if found and found.get("external") else None
            port = self._outputs[topic] = OutputConfig(topic=topic, endpoint=endpoint)
        return port

    def announce_ready(self, node) -> None:
        """Tell the supervisor this node is up and where its topics and service are."""
        if not self._config.control:
            return
        body = {"node": node.name, "pid": os.getpid(), "endpoints": node.endpoints,
                "service": node.service_endpoint}
        try:
            self._ask("node.ready", body, timeout_s=2.0)
        except EdgeError as exc:
            log.warning("node %r: ready handshake with %s failed: %s", node.name,
                        self._config.control, exc)
