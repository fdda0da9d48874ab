"""Launch files over several machines: a `hosts:` section and `host:` per node.

    hosts:
      camera-board:  {address: 10.77.0.1, key: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"}
      compute:       {address: 10.77.0.2}
    nodes:
      - {name: camera, type: camera, host: camera-board, outputs: {image: camera/image}}
      - {name: detector, type: model_runner, host: compute, inputs: {image: camera/image}}

A node without `host` runs on the launcher's machine. `key` is the public key (Z85) the
host's sockets serve with; without it, clients use a trusted key with that address
(`edge keys trust NAME KEY --address ADDR`) or their own. Checked here, before anything
starts: unknown hosts, duplicate names or addresses, malformed keys, and topics whose
producer and consumer are on machines that cannot reach each other.
"""
from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from edge.config import RUNTIME_PLACEHOLDER
from edge.errors import FailedPrecondition, InvalidArgument
from edge.launch.scripts import MAX_SCRIPT_BYTES, check_script_name
from edge.security.keys import check_public_key
from edge.launch.graph import Graph, Problem
from messages.codec import short

HOST_KEYS = ("address", "key", "agent", "ports")
AGENT_PORT = 5700       # where `edge agent` listens unless the host entry says `agent: PORT`
NODE_PORTS = (5800, 5999)  # unless `ports: FIRST-LAST` (or `ports: FIRST`): node i of a host
                           # publishes on FIRST + 2i and serves on FIRST + 2i + 1
MIN_NODE_PORT = 1024       # below: privileged ports
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


@dataclass(frozen=True)
class HostSpec:
    name: str
    address: str
    key: Optional[str] = None
    line: Optional[int] = None
    agent_port: int = AGENT_PORT
    node_ports: tuple[int, int] = NODE_PORTS   # first and last port, both included

    @property
    def loopback(self) -> bool:
        """Reachable only from its own machine."""
        if self.address == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.address).is_loopback
        except ValueError:
            return False


def parse_hosts(value: Any, problem: Callable[..., None]) -> dict[str, HostSpec]:
    """The `hosts:` mapping -> name -> HostSpec; `problem(message, key=, where=, at=)`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        problem(f"'hosts' must be a mapping of host name -> {{address, key}}, "
                f"got {type(value).__name__}", key="hosts")
        return {}
    hosts: dict[str, HostSpec] = {}
    for name, entry in value.items():
        key = f"hosts.{name}"
        line = getattr(value, "key_lines", {}).get(name)
        if not isinstance(name, str) or not _HOST_NAME.match(name):
            problem(f"host name must be letters, digits, '_', '.' or '-', got {short(name)}",
                    key=key, where=value, at=name)
            continue
        if isinstance(entry, str):
            entry = {"address": entry}
        if not isinstance(entry, dict):
            problem(f"must be an address or {{address, key}}, got {type(entry).__name__}",
                    key=key, where=value, at=name)
            continue
        for extra in entry.keys() - set(HOST_KEYS):
            problem(f"unknown key {short(extra)} (known: {', '.join(HOST_KEYS)})", key=key,
                    where=entry, at=extra)
        address, public = entry.get("address"), entry.get("key")
        if not isinstance(address, str) or not _valid_address(address):
            problem(f"'address' must be an IP address or host name, got {short(address)}",
                    key=f"{key}.address", where=entry, at="address")
            continue
        if public is not None:
            try:
                public = check_public_key(str(public)).decode()
            except InvalidArgument as exc:
                problem(f"'key': {exc.message}", key=f"{key}.key", where=entry, at="key")
                public = None
        port = entry.get("agent", AGENT_PORT)
        if type(port) is not int or not 0 < port < 65536:
            problem(f"'agent' must be the agent's TCP port, 1-65535, got {short(port)}",
                    key=f"{key}.agent", where=entry, at="agent")
            port = AGENT_PORT
        ports = parse_node_ports(entry.get("ports"), lambda text: problem(
            text, key=f"{key}.ports", where=entry, at="ports"))
        hosts[name] = HostSpec(name, address, public, line, port, ports)
    return hosts


def parse_node_ports(value: Any, problem: Callable[[str], None]) -> tuple[int, int]:
    """`ports: 6000-6099` / `ports: 6000` (to 65535) -> (first, last); NODE_PORTS if absent."""
    if value is None:
        return NODE_PORTS
    text = str(value).strip() if type(value) in (int, str) else ""
    first, dash, last = text.partition("-")
    if not (first.strip().isdigit() and (not dash or last.strip().isdigit())):
        problem(f"'ports' must be FIRST-LAST or FIRST (node TCP ports), got {short(value)}")
        return NODE_PORTS
    low, high = int(first), int(last) if dash else 65535
    if not MIN_NODE_PORT <= low <= high <= 65535:
        problem(f"'ports' {value} is out of range: node ports must be within "
                f"{MIN_NODE_PORT}-65535, first <= last")
        return NODE_PORTS
    return low, high


def _valid_address(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
        return True
    except ValueError:
        return bool(_DNS_NAME.match(address))


def check_hosts(graph: Graph) -> list[Problem]:
    """Unknown hosts, shared addresses, and topics that cannot cross between machines."""
    file, problems = str(graph.path), []
    by_address: dict[str, HostSpec] = {}
    for host in graph.hosts.values():
        other = by_address.setdefault(host.address.lower(), host)
        if other is not host:
            problems.append(Problem(file, f"address {host.address} is also host {other.name!r}'s "
                                    "(one entry per machine)", key=f"hosts.{host.name}",
                                    line=host.line))
    for node in graph.nodes:
        if node.host is not None and node.host not in graph.hosts:
            known = ", ".join(graph.hosts) or "none declared in 'hosts'"
            problems.append(Problem(file, f"unknown host {short(node.host)} (hosts: {known})",
                                    node.name, "host", node.line_of("host")))
    problems += _check_node_ports(graph) + _check_scripts(graph)
    producers = graph.producers()
    for topic, consumers in graph.consumers().items():
        for producer, local in producers.get(topic, [])[:1]:
            for consumer, input_name in consumers:
                why = unreachable(graph, producer.host, consumer.host)
                if why:
                    problems.append(Problem(
                        file, f"topic {topic!r} comes from node {producer.name!r} on "
                        f"{_where(producer.host)}, which {why}", consumer.name,
                        f"inputs.{input_name}", consumer.line_of(f"inputs.{input_name}")))
    return problems


def _check_node_ports(graph: Graph) -> list[Problem]:
    """Each host's node ports: room for two per node, clear of its agent's port."""
    problems, file = [], str(graph.path)
    for host in graph.hosts.values():
        count = sum(1 for n in graph.nodes if n.host == host.name)
        first, last = host.node_ports
        needed_last = first + 2 * count - 1
        if needed_last > last:
            problems.append(Problem(file, f"ports {first}-{last} hold {(last - first + 1) // 2} "
                                    f"node(s), but {count} run on host {host.name!r} (two ports "
                                    "each: publisher, service)", key=f"hosts.{host.name}.ports",
                                    line=host.line))
        elif count and first <= host.agent_port <= needed_last:
            problems.append(Problem(file, f"agent port {host.agent_port} clashes with node "
                                    f"ports {first}-{needed_last} of host {host.name!r}",
                                    key=f"hosts.{host.name}.ports", line=host.line))
    return problems


def _check_scripts(graph: Graph) -> list[Problem]:
    """Script types of nodes with a host: what an agent accepts (a plain NAME.py, its size)."""
    problems = []
    for node in graph.nodes:
        if node.host not in graph.hosts or not (node.type.endswith(".py") or "/" in node.type):
            continue
        path = Path(node.type) if Path(node.type).is_absolute() else graph.base_dir / node.type
        try:
            check_script_name(path.name)
            if path.is_file() and path.stat().st_size > MAX_SCRIPT_BYTES:
                raise InvalidArgument(f"script {path.name} is {path.stat().st_size} bytes, more "
                                      f"than the {MAX_SCRIPT_BYTES} an agent accepts")
        except InvalidArgument as exc:
            problems.append(Problem(str(graph.path), f"{exc.message} (host {short(node.host)} "
                                    "runs it through its agent)", node.name, "type",
                                    node.line_of("type")))
    return problems


def used_node_ports(graph: Graph, host: HostSpec) -> Optional[tuple[int, int]]:
    """The first and last port the host's nodes take, or None when it runs none."""
    count = sum(1 for n in graph.nodes if n.host == host.name)
    return (host.node_ports[0], host.node_ports[0] + 2 * count - 1) if count else None


def refuse_control_on_node_ports(graph: Graph, control: Optional[str]) -> None:
    """FailedPrecondition when a TCP control endpoint would take one of its host's node ports."""
    if not control or not control.startswith("tcp://"):
        return
    address, _, port = control[len("tcp://"):].rpartition(":")
    if not port.isdigit():
        return
    for host in graph.hosts.values():
        used = used_node_ports(graph, host)
        if used and host.address == address.strip("[]") and used[0] <= int(port) <= used[1]:
            raise FailedPrecondition(
                f"control endpoint {control} takes a node port of host {host.name!r} (its nodes "
                f"use {used[0]}-{used[1]}): choose another port or set the host's 'ports'")


def unreachable(graph: Graph, producer_host: Optional[str], consumer_host: Optional[str]) -> str:
    """Why a subscriber on `consumer_host` cannot connect to a publisher on `producer_host`."""
    if producer_host == consumer_host:
        return ""
    if producer_host not in graph.hosts and producer_host is not None:
        return ""  # an unknown host is its own problem
    if producer_host is None:
        return (f"has no address {_where(consumer_host)} can reach: put that node on a host "
                "from 'hosts' (the launcher's own machine can be one)")
    host = graph.hosts[producer_host]
    if host.loopback:
        return (f"listens on loopback {host.address}, out of reach of {_where(consumer_host)}")
    return ""


def _where(host: Optional[str]) -> str:
    return f"host {short(host)}" if host is not None else "the launcher's machine"


def is_this_machine(address: str) -> bool:
    """True if `address` belongs to this machine (binding to it works)."""
    import socket

    try:
        infos = socket.getaddrinfo(address, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            try:
                probe.bind((sockaddr[0], 0))
                return True
            except OSError:
                continue
    return False


def place_on_hosts(wiring, graph: Graph) -> None:
    """Nodes with a `host` publish and serve on TCP (CURVE) at that host's address, so
    subscribers and the launcher on other machines reach them; fixed ports, so a
    restarted node rebinds where its subscribers reconnect. A publisher with subscribers
    on its own host binds ipc as well (in that host's runtime dir), and they use it."""
    tag = uuid.uuid4().hex[:8]
    same_host = {(p.name, c.host) for topic, consumers in graph.consumers().items()
                 for p, _ in graph.producers().get(topic, [])[:1] for c, _ in consumers
                 if p.host is not None and c.host == p.host}
    index: dict[str, int] = {}
    for node in graph.nodes:
        host = graph.hosts.get(node.host) if node.host else None
        if host is None:
            continue
        slot = index[host.name] = index.get(host.name, -1) + 1
        address = f"[{host.address}]" if ":" in host.address else host.address
        port = host.node_ports[0] + 2 * slot
        wiring.publishers[node.name] = f"tcp://{address}:{port}"
        wiring.services[node.name] = f"tcp://{address}:{port + 1}"
        local = None
        if (node.name, host.name) in same_host:
            local = f"ipc://{RUNTIME_PLACEHOLDER}/{tag}-{slot}.pub.sock"  # short: 107-byte limit
            wiring.also_bind[node.name] = [local]
        for route in wiring.routes.values():
            if route.publisher == node.name:
                route.endpoint, route.host = wiring.publishers[node.name], host.name
                route.local_endpoint = local


def server_key_of(graph: Graph, node_name: Optional[str]) -> dict:
    """{"server_key": KEY} when `node_name` runs on a host with a declared key, else {}."""
    node = graph.node(node_name) if node_name else None
    host = graph.hosts.get(node.host) if node is not None and node.host else None
    return {"server_key": host.key} if host is not None and host.key else {}
