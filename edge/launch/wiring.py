"""Where each topic of a launched graph lives, and the config each node is started with.

Every node gets its own ipc PUB endpoint and service endpoint in the launch's runtime
directory; each `external` topic gets an endpoint of its own, where an ad-hoc script
binds and the graph's subscribers connect. Endpoints stay fixed across restarts, so a
restarted publisher rebinds where its subscribers already try to reconnect.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from edge.config import SHM_MIN_BYTES, InputConfig, NodeConfig, OutputConfig
from edge.endpoints import ipc_endpoint
from edge.launch.graph import Graph, NodeSpec


@dataclass
class Route:
    topic: str
    endpoint: str
    publisher: Optional[str] = None  # node name; None for an external topic
    output: str = ""                 # the publisher's local output name
    external: bool = False
    transport: str = "zmq"  # the publishing output's (auto unless set); its subscribers read the same way
    subscribers: list = field(default_factory=list)  # [(node name, local input name)]
    host: Optional[str] = None            # the publisher's host (launch file `hosts:`)
    local_endpoint: Optional[str] = None  # ipc, for subscribers on that same host

    def to_wire(self) -> dict:
        return {"topic": self.topic, "endpoint": self.endpoint, "publisher": self.publisher,
                "external": self.external,
                "subscribers": [f"{node}.{local}" for node, local in self.subscribers]}


@dataclass
class Wiring:
    directory: Path
    control: str
    publishers: dict   # node name -> PUB endpoint
    services: dict     # node name -> service endpoint
    routes: dict       # topic -> Route
    also_bind: dict = field(default_factory=dict)  # node name -> more publisher endpoints

    def config(self, node: NodeSpec, parameters: Optional[dict] = None,
               type_name: Optional[str] = None) -> NodeConfig:
        """The NodeConfig `node` runs with; `parameters` and `type_name` override the file's."""
        inputs = {local: InputConfig(spec.topic, self._endpoint_for(self.routes[spec.topic], node),
                                     spec.queue_size, transport=self.routes[spec.topic].transport,
                                     **spec.limits)
                  for local, spec in node.inputs.items()}
        outputs = {local: OutputConfig(topic, self.routes[topic].endpoint,
                                       transport=node.transports.get(local, "auto"),
                                       shm_min_bytes=node.shm_min_bytes.get(local, SHM_MIN_BYTES),
                                       trail=node.output_trails.get(local))
                   for local, topic in node.outputs.items()}
        return NodeConfig(name=node.name, type=type_name or node.type,
                          parameters=dict(node.parameters if parameters is None else parameters),
                          inputs=inputs, outputs=outputs, endpoint=self.publishers[node.name],
                          service=self.services[node.name], control=self.control,
                          also_bind=list(self.also_bind.get(node.name, [])), trail=node.trail)

    @staticmethod
    def _endpoint_for(route: Route, node: NodeSpec) -> str:
        """ipc for a subscriber on the publisher's own host, else the route's endpoint."""
        if route.local_endpoint and route.host is not None and route.host == node.host:
            return route.local_endpoint
        return route.endpoint


def plan(graph: Graph, directory: Path, control: str) -> Wiring:
    """Assign endpoints under `directory` (which must be short: ipc paths max 107 bytes)."""
    used: set[str] = set()

    def endpoint(name: str) -> str:
        candidate, index = ipc_endpoint(name, directory), 1
        while candidate in used:
            index += 1
            candidate = ipc_endpoint(f"{name}.{index}", directory)
        used.add(candidate)
        return candidate

    publishers = {node.name: endpoint(f"{node.name}.pub") for node in graph.nodes}
    services = {node.name: endpoint(f"{node.name}.svc") for node in graph.nodes}
    routes: dict[str, Route] = {}
    for node in graph.nodes:  # a socket per output: its HWM fits its own message size
        for local, topic in node.outputs.items():
            routes.setdefault(topic, Route(topic, endpoint(f"{node.name}.{local}.pub"), node.name,
                                           local, transport=node.transports.get(local, "auto")))
    for topic in graph.external:
        routes.setdefault(topic, Route(topic, endpoint(f"ext.{topic}"), external=True))
    for topic, consumers in graph.consumers().items():
        if topic in routes:
            routes[topic].subscribers = [(node.name, local) for node, local in consumers]
    return Wiring(Path(directory), control, publishers, services, routes)


def launch_directory(base: Path) -> Path:
    """A fresh directory for this launch's sockets; those of dead launches are removed."""
    for path in base.glob("launch.*"):
        try:
            os.kill(int(path.name.split(".", 1)[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, PermissionError):
            continue
    directory = base / f"launch.{os.getpid()}"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory
