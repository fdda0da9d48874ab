"""edge: nodes that exchange msgpack-framed numpy tensors over ZeroMQ.

The names below load on first use (PEP 562), so a tool that needs only a Client, like
`edge nodes`, does not pay for the Node and its transport.
"""
from __future__ import annotations

from importlib import import_module

_WHERE = {
    "Client": "edge.client", "NodeConfig": "edge.config", "Event": "edge.node",
    "Node": "edge.node", "NodeType": "edge.nodetype", "Param": "edge.nodetype",
    "Port": "edge.nodetype", "Request": "edge.replies", "Service": "edge.service",
    **{name: "edge.errors" for name in (
        "AlreadyExists", "DeadlineExceeded", "EdgeError", "FailedPrecondition", "Internal",
        "InvalidArgument", "NotFound", "ResourceExhausted", "ServiceTimeout", "Unavailable",
        "Unimplemented")},
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'edge' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
