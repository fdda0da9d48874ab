"""edge: nodes that exchange msgpack-framed numpy tensors over ZeroMQ."""
from edge.client import Client
from edge.config import NodeConfig
from edge.errors import (AlreadyExists, DeadlineExceeded, EdgeError, FailedPrecondition, Internal,
                         InvalidArgument, NotFound, ResourceExhausted, ServiceTimeout, Unavailable,
                         Unimplemented)
from edge.node import Event, Node
from edge.nodetype import NodeType, Param, Port
from edge.service import Request, Service

__all__ = [
    "Client", "NodeConfig", "Event", "Node", "NodeType", "Param", "Port", "Request", "Service",
    "AlreadyExists", "DeadlineExceeded", "EdgeError", "FailedPrecondition", "Internal",
    "InvalidArgument", "NotFound", "ResourceExhausted", "ServiceTimeout", "Unavailable",
    "Unimplemented",
]
