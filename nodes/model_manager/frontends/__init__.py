"""gRPC front doors: the seeds' own clients (tritonclient, pykos) talk to the manager unchanged.

Needs the optional extra `grpc`; without it, `open_grpc` says what to install.
"""
from __future__ import annotations

from edge.errors import FailedPrecondition

INSTALL_HINT = "gRPC needs the 'grpc' extra: pip install 'edge-runtime[grpc]' " \
               "(grpcio, tritonclient[grpc], pykos)"


def open_grpc(manager, address: str):
    """Serve Triton's and pykos's inference services for `manager` on `address` (HOST:PORT)."""
    try:
        from .server import GrpcFrontDoor
    except ImportError as exc:
        raise FailedPrecondition(f"{INSTALL_HINT}; missing: {exc.name}") from None
    return GrpcFrontDoor(manager, address)
