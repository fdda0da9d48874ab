"""The launcher's side of `edge agent`: nodes on other machines, supervised like local ones.

Per remote host an AgentLink has two threads, each with its own client to that host's
agent: one sends start/stop as soon as they are asked for; the other polls for output
lines and exits, which the agent holds for up to POLL_WAIT_MS until there are some (so
they arrive as they happen; the polls are the launcher's heartbeat, the replies the
agent's). No answer for LOST_AFTER_S, or a new agent boot_id, marks the host's nodes
lost; a RemoteChild (edge.launch.remotechild) then retries its start until the agent is
back. Whatever the threads learn goes into the RemoteChild's inbox, and they wake the
supervisor's loop (`wake`, its StopSignals pipe), which applies it in `tick()`.
"""
from __future__ import annotations

import json
import os
import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Optional

from edge.client import Client
from edge.errors import EdgeError, FailedPrecondition
from edge.launch.graph import Graph
from edge.launch.hosts import HostSpec, is_this_machine
from edge.launch.process import OutputPrinter
from edge.launch.remotechild import RemoteChild
from edge.launch.restart import RestartPolicy
from edge.security import PEER_KEYS_ENV, endpoint_host, keys

POLL_WAIT_MS = 1000  # how long the agent may hold a poll that finds nothing new
RETRY_S = 0.2        # between polls when the agent does not answer, or does not hold them
CALL_TIMEOUT_S = 1.0
LOST_AFTER_S = 2.0


def share_host_keys(graph: Graph) -> None:
    """The graph's hosts trust each other's keys (admin: ready handshakes, param calls).

    Set before the first bind, so this process's ZAP handler and every child see them."""
    peers = [{"name": f"host:{h.name}", "public_key": h.key, "role": "admin", "address": h.address}
             for h in graph.hosts.values() if h.key]
    if peers:
        os.environ[PEER_KEYS_ENV] = json.dumps(peers)


def remote_hosts(graph: Graph) -> dict[str, HostSpec]:
    """Hosts of the graph's nodes that are not this machine."""
    used = {n.host for n in graph.nodes if n.host in graph.hosts}
    return {name: graph.hosts[name] for name in used
            if not is_this_machine(graph.hosts[name].address)}


class AgentLink:
    def __init__(self, host: HostSpec, session: str, log: Callable[[str], None], peer_keys: str,
                 wake: Callable[[], None]):
        self.host, self.session, self.log, self.peer_keys = host, session, log, peer_keys
        self.wake = wake   # from the link's threads: the supervisor's loop applies what arrived
        address = f"[{host.address}]" if ":" in host.address else host.address
        self.endpoint = f"tcp://{address}:{host.agent_port}"
        self.children: dict[str, RemoteChild] = {}
        self.up = False
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        # held from sending a command to queueing its reply, and while queueing polled events:
        # a node's exit is never queued before the reply to the start that made it
        self._order = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=run, name=f"agent-{host.name}-{role}", daemon=True)
                         for run, role in ((self._send_commands, "commands"), (self._poll, "poll"))]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def call(self, child: RemoteChild, method: str, body: dict, tag=None) -> None:
        """Send from the link's command thread; the reply or EdgeError reaches `child` as an
        event (`(tag, result)` / `(tag, error)` when a tag is given)."""
        self._commands.put((child, method, body, tag))

    def close(self) -> None:
        """Send what is still queued (a last stop), then end the threads."""
        self._stop.set()
        self._commands.put(None)
        for thread in self._threads:
            thread.join(timeout=CALL_TIMEOUT_S * (2 + len(self.children)) + POLL_WAIT_MS / 1000)

    def _client(self, timeout_s: float) -> Client:
        return Client(self.endpoint, timeout_s=timeout_s, retries=0, server_key=self.host.key)

    def _send_commands(self) -> None:
        with self._client(CALL_TIMEOUT_S) as client:
            while (command := self._commands.get()) is not None:
                child, method, body, tag = command
                with self._order:
                    try:
                        result = client.call(method, {"session": self.session, **body})
                        child.inbox.put((method, result if tag is None else (tag, result)))
                    except EdgeError as exc:
                        child.inbox.put((method + ":failed", exc if tag is None else (tag, exc)))
                self.wake()

    def _poll(self) -> None:
        cursor, boot_id, last_ok = 0, None, time.monotonic()
        with self._client(CALL_TIMEOUT_S + POLL_WAIT_MS / 1000) as client:
            while not self._stop.is_set():
                asked = time.monotonic()
                try:
                    reply = client.call("agent.poll", {"session": self.session, "cursor": cursor,
                                                       "wait_ms": POLL_WAIT_MS})
                except EdgeError as exc:
                    if self.up and time.monotonic() - last_ok > LOST_AFTER_S:
                        self._lost(f"the agent on host {self.host.name!r} is not answering ({exc})",
                                   boot_id)
                    self._stop.wait(RETRY_S)
                    continue
                if boot_id is not None and reply["boot_id"] != boot_id:
                    self._lost(f"the agent on host {self.host.name!r} restarted", boot_id)
                    cursor = 0
                if not self.up:
                    self._say(f"agent on host {self.host.name!r} ({self.endpoint}) is up")
                boot_id, self.up, last_ok = reply["boot_id"], True, time.monotonic()
                cursor = self._deliver(reply["events"], cursor)
                if not reply["events"]:  # an agent that does not hold polls: do not spin
                    self._stop.wait(max(0.0, RETRY_S - (time.monotonic() - asked)))

    def _deliver(self, events: list, cursor: int) -> int:
        with self._order:
            for seq, kind, name, payload in events:
                cursor = max(cursor, seq)
                if name in self.children:
                    self.children[name].inbox.put((kind, payload))
        if events:
            self.wake()
        return cursor

    def _say(self, text: str) -> None:
        """Log on the supervisor's loop (it owns the output): through a child's inbox."""
        for child in self.children.values():
            child.inbox.put(("log", text))
            self.wake()
            return
        self.log(text)

    def _lost(self, reason: str, boot_id: Optional[str]) -> None:
        """Nodes started by the agent run `boot_id` are gone."""
        self.up = False
        for child in self.children.values():
            child.inbox.put(("lost", (reason, boot_id)))
        self.wake()


class Remote:
    """The agent links of one launch; nodes of remote hosts become RemoteChild."""

    def __init__(self, graph: Graph, control_endpoint: str, log: Callable[[str], None],
                 wake: Callable[[], None]):
        self.graph, self.log, self.control = graph, log, control_endpoint
        self.hosts = remote_hosts(graph)
        self.links: dict[str, AgentLink] = {}
        if not self.hosts:
            return
        if not control_endpoint.startswith("tcp://") \
                or any(w in control_endpoint for w in ("0.0.0.0", "*", "[::]")) \
                or HostSpec("launcher", endpoint_host(control_endpoint)).loopback:
            raise FailedPrecondition(
                f"nodes run on {', '.join(sorted(self.hosts))}: bind the control endpoint on an "
                "address they can reach, e.g. --control tcp://10.0.0.1:5600")
        session = uuid.uuid4().hex[:12]
        # remote nodes also trust this launcher, and know its key for the control endpoint
        # names with ":" cannot clash with `edge keys trust` names (the user id decides the role)
        launcher = {"name": f"launcher:{endpoint_host(control_endpoint)}",
                    "public_key": keys.load_identity().public.decode(), "role": "admin",
                    "address": endpoint_host(control_endpoint)}
        peers = json.dumps(json.loads(os.environ.get(PEER_KEYS_ENV, "[]")) + [launcher])
        self.links = {name: AgentLink(host, session, log, peers, wake)
                      for name, host in self.hosts.items()}

    def runs(self, node) -> bool:
        return node.host in self.links

    def child(self, node, env: Callable[[], dict], policy: RestartPolicy, printer: OutputPrinter,
              clock, node_type) -> RemoteChild:
        """`node_type`: a Path for a script, sent to the agent with each start."""
        script = node_type if isinstance(node_type, Path) else None
        return RemoteChild(node.name, env, policy, printer, self.links[node.host], self.control,
                           log=self.log, node_env=node.env, script=script, clock=clock)

    def start(self) -> None:
        for link in self.links.values():
            link.start()

    def close(self) -> None:
        for link in self.links.values():
            link.close()
