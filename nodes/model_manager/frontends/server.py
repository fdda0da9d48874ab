"""One gRPC port serving Triton's and pykos's inference services over one manager."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import grpc
from kos_protos import inference_pb2_grpc
from tritonclient.grpc import service_pb2_grpc

from edge.errors import InvalidArgument, Unavailable
from ..manager import ModelManager
from .kos import KosInferenceService
from .triton import TritonService

log = logging.getLogger("edge.model_manager")

HANDLER_THREADS = 32
MAX_CONCURRENT_RPCS = 256  # beyond it grpcio answers RESOURCE_EXHAUSTED instead of queueing
MESSAGE_SLACK_BYTES = 1 << 20
STOP_GRACE_S = 2.0


class GrpcFrontDoor:
    """Handlers run on their own threads and only queue inference on the manager, like
    the ZeroMQ service; a blocked handler waits for its own request only."""

    def __init__(self, manager: ModelManager, address: str) -> None:
        if not address or ":" not in address:
            raise InvalidArgument(f"--grpc wants HOST:PORT, got {address!r}", {"key": "grpc"})
        max_bytes = manager.config.max_model_bytes + MESSAGE_SLACK_BYTES
        self._server = grpc.server(
            ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="grpc"),
            options=[("grpc.max_receive_message_length", max_bytes),
                     ("grpc.max_send_message_length", max_bytes),
                     ("grpc.so_reuseport", 0)],
            maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS)
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            TritonService(manager), self._server)
        inference_pb2_grpc.add_InferenceServiceServicer_to_server(
            KosInferenceService(manager), self._server)
        try:
            port = self._server.add_insecure_port(address)
        except RuntimeError as exc:
            raise Unavailable(f"cannot serve gRPC on {address}: {exc}") from None
        if port == 0:
            raise Unavailable(f"cannot serve gRPC on {address}: address in use or invalid")
        host = address.rsplit(":", 1)[0]
        self.address = f"{host}:{port}"
        self._server.start()
        log.info("gRPC (Triton and pykos inference services) on %s", self.address)

    def close(self) -> None:
        self._server.stop(STOP_GRACE_S).wait(STOP_GRACE_S + 1.0)
