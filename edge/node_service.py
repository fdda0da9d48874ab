"""The requests every node answers: its parameters (read and set live) and its stats."""
from __future__ import annotations

from typing import TYPE_CHECKING

import zmq

from edge.errors import FailedPrecondition, InvalidArgument, NotFound
from edge.service import Request, Service

if TYPE_CHECKING:
    from edge.node import Node


class NodeService(Service):
    """Served from the node's own loop, so a param change lands between two events."""

    def __init__(self, node: "Node", endpoint: str, context: zmq.Context):
        super().__init__(endpoint, name=node.name, context=context)
        self._node = node
        self.add("param.get", self._param_get, role="read")
        self.add("param.set", self._param_set)
        self.add("stats", lambda request: node.stats(), role="read")

    def owns(self, item) -> bool:
        return item is self.socket or item == self._wake_r

    def _param_get(self, request: Request):
        key = (request.body or {}).get("key") if isinstance(request.body, dict) else None
        if key is None:
            return dict(self._node.params)
        if key not in self._node.params:
            raise NotFound(f"node {self._node.name!r} has no parameter {key!r}")
        return self._node.params[key]

    def _param_set(self, request: Request):
        from edge.node import Event

        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("key"), str) or "value" not in body:
            raise InvalidArgument("param.set needs {key: str, value}")
        key, value = body["key"], body["value"]
        spec = self._node.param_specs.get(key)
        if self._node.param_specs and spec is None:
            raise NotFound(f"node {self._node.name!r} has no parameter {key!r}")
        if spec is not None:
            if not spec.runtime:
                raise FailedPrecondition(f"parameter {key!r} of {self._node.name!r} "
                                         "cannot be changed at run time")
            why = spec.check(value)
            if why:
                raise InvalidArgument(f"parameter {key!r}: {why}")
            value = spec.coerce(value)
        self._node.params[key] = value
        self._node.emit(Event("param", key, value))
        return {"key": key, "value": value}
