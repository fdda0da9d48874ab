"""A node's outputs: one publisher per bound endpoint, each output's route, and loans.

An output name (or a global topic) routes to a publisher and a topic once; after that a
publish is one dict lookup. Outputs with transport shm or auto share their endpoint's
XPUB with a ShmOutput (edge.memory.shm_output), which sends local readers shared-memory
frames from the node's pool.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Optional

import numpy as np
import zmq

from edge.bus import Publisher
from edge.config import NodeConfig, OutputConfig
from edge.endpoints import ipc_endpoint
from edge.memory.shm import FramePool
from edge.memory.shm_output import ShmOutput
from messages.trail import carried as carried_trail


class Outputs:
    """Owned by one Node (and its thread); `config.endpoint` is chosen on first use."""

    def __init__(self, config: NodeConfig, context: zmq.Context, trail: Optional[bool],
                 find: Callable[[str], OutputConfig]):
        self.config = config
        self._context = context
        self._trail = trail  # the node's trail setting, for outputs without their own
        self._find = find  # an output not in config, by name or topic (edge.lookup)
        self._trail_modes: dict[str, Optional[bool]] = {}  # output name -> True/False/None
        self._publishers: dict[str, Publisher] = {}
        self._shm_outputs: dict[str, ShmOutput] = {}  # endpoint -> its XPUB's subscription view
        self._routes: dict[str, tuple] = {}  # output name or topic -> Outputs._route
        self._pool: Optional[FramePool] = None

    def publish(self, name: str, value: Any, stamp_ns: Optional[int],
                parent: Optional[tuple]) -> int:
        """See Node.publish; `parent` is the (trail, recv_ns) the value derives from."""
        route = self._routes.get(name) or self._route(name)
        publisher, topic, shm, min_bytes, port = route
        hops, recv_ns = self._trail_of(name, port, parent)
        if shm is not None:
            return shm.send(topic, value, stamp_ns, self._pool, min_bytes, self._frame_pool,
                            hops, recv_ns)
        if self._pool is not None and self._pool.is_loaned(value):
            self._pool.release(value)  # this output has no shm readers: send a copy
            value = np.array(value)
        return publisher.send(topic, value, stamp_ns, hops, recv_ns)

    def loan(self, shape, dtype) -> np.ndarray:
        return self._frame_pool().loan(shape, dtype)

    def bind(self) -> None:
        """Bind every configured output now, so subscribers can connect before data flows."""
        for port in self.config.outputs.values():
            self._publisher(port.endpoint or self._default_endpoint())

    @property
    def endpoints(self) -> dict:
        """topic -> bound endpoint for every configured output bound so far (binds nothing)."""
        found = {}
        for port in self.config.outputs.values():
            publisher = self._publishers.get(port.endpoint or self.config.endpoint or "")
            if publisher is not None:
                found[port.topic] = publisher.endpoint
        return found

    @property
    def published(self) -> dict:
        """topic -> messages published on it."""
        return {topic: count for publisher in set(self._publishers.values())
                for topic, count in publisher.published.items()}

    def close(self) -> None:
        for publisher in set(self._publishers.values()):
            publisher.close()
        if self._pool is not None:
            self._pool.close()
        self._publishers.clear()
        self._shm_outputs.clear()
        self._routes.clear()

    def _route(self, name: str) -> tuple:
        """(publisher, topic, ShmOutput or None, auto shm size, port) of an output, per name."""
        port = self.config.outputs.get(name) or self._find(name)
        publisher = self._publisher(port.endpoint or self._default_endpoint())
        shm = self._shm_outputs.get(publisher.endpoint) if port.transport != "zmq" else None
        min_bytes = port.shm_min_bytes if port.transport == "auto" else 0
        route = self._routes[name] = (publisher, port.topic, shm, min_bytes, port)
        return route

    def _frame_pool(self) -> FramePool:
        if self._pool is None:
            self._pool = FramePool()
        return self._pool

    def _trail_of(self, name: str, port: OutputConfig, parent: Optional[tuple]) -> tuple:
        """(earlier hops or None for no trail, recv_ns of this hop) for a publish on `name`."""
        mode = self._trail_modes.get(name, ...)
        if mode is ...:
            own = getattr(port, "trail", None)
            mode = self._trail_modes[name] = own if own is not None else self._trail
        return carried_trail(mode, parent)

    def _publisher(self, endpoint: str) -> Publisher:
        publisher = self._publishers.get(endpoint)
        if publisher is None:
            shm = any(p.transport != "zmq" and (p.endpoint or self.config.endpoint) == endpoint
                      for p in self.config.outputs.values())
            publisher = Publisher(self._context, endpoint, source=self.config.name,
                                  socket_type=zmq.XPUB if shm else zmq.PUB)
            if endpoint == self.config.endpoint:
                for extra in self.config.also_bind:
                    publisher.bind_also(extra)
            self._publishers[endpoint] = publisher
            self._publishers[publisher.endpoint] = publisher
            if shm:
                self._shm_outputs[publisher.endpoint] = ShmOutput(publisher)
        return publisher

    def _default_endpoint(self) -> str:
        if self.config.endpoint is None:
            self.config.endpoint = ipc_endpoint(f"{self.config.name}-{os.getpid()}")
        return self.config.endpoint
