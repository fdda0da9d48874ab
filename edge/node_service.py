"""The requests every node answers: its parameters (read and set live) and its stats.

It knows nothing of Node: it is handed getters for the parameter values and their
specs, a stats function and `on_change(key, value)`, through which the node turns an
accepted change into a `param` event.
"""
from __future__ import annotations

from typing import Any, Callable

import zmq

from edge.errors import InvalidArgument, NotFound
from edge.nodetype import check_live_value
from edge.service import Request, Service
from messages.codec import short


class NodeService(Service):
    """Served from the node's own loop, so a param change lands between two events."""

    def __init__(self, name: str, endpoint: str, context: zmq.Context, *, params: Callable[[], dict],
                 param_specs: Callable[[], dict], stats: Callable[[], dict],
                 on_change: Callable[[str, Any], None]):
        super().__init__(endpoint, name=name, context=context)
        self._params, self._specs, self._on_change = params, param_specs, on_change
        self.add("param.get", self._param_get, role="read")
        self.add("param.set", self._param_set)
        self.add("stats", lambda request: stats(), role="read")

    def owns(self, item) -> bool:
        return item is self.socket or item == self._wake_r

    def _param_get(self, request: Request):
        key = (request.body or {}).get("key") if isinstance(request.body, dict) else None
        params = self._params()
        if key is None:
            return dict(params)
        if not isinstance(key, str):
            raise InvalidArgument(f"param.get: key must be a string, got {short(key)}")
        if key not in params:
            raise NotFound(f"node {self.name!r} has no parameter {short(key)}")
        return params[key]

    def _param_set(self, request: Request):
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("key"), str) or "value" not in body:
            raise InvalidArgument("param.set needs {key: str, value}")
        key = body["key"]
        value = check_live_value(self.name, self._specs() or None, key, body["value"])
        self._params()[key] = value
        self._on_change(key, value)
        return {"key": key, "value": value}
