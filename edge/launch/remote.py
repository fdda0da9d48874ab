"""The launcher's side of `edge agent`: nodes on other machines, supervised like local ones.

Per remote host one AgentLink thread owns a client to that host's agent: it sends
start/stop, and polls every POLL_S for output lines and exits (the launcher's heartbeat;
the reply is the agent's). No answer for LOST_AFTER_S, or a new agent boot_id, marks the
host's nodes lost; a RemoteChild then retries its start until the agent is back.
A RemoteChild offers the supervisor what a ChildProcess does; its events arrive through
a queue that `tick()` (on the supervisor's loop) applies.
"""
from __future__ import annotations

import json
import os
import queue
import threading
import time
import uuid
from typing import Callable, Optional

from edge.security import keys
from edge.client import Client
from edge.config import CONTROL_ENV_VAR, ENV_VAR, NodeConfig
from edge.errors import EdgeError, FailedPrecondition
from edge.launch.agent import ENV_FORWARDED
from edge.launch.graph import Graph
from edge.launch.hosts import HostSpec, is_this_machine
from edge.launch.process import OutputPrinter
from edge.launch.restart import RestartPolicy
from edge.security import PEER_KEYS_ENV, endpoint_host

POLL_S = 0.2
CALL_TIMEOUT_S = 1.0
LOST_AFTER_S = 2.0
LOST_RETRY_S = 1.0


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


def refuse_remote_hosts(graph: Graph) -> None:
    """The event-driven supervisor does not drive agents yet (RemoteChild predates it)."""
    hosts = remote_hosts(graph)
    if hosts:
        raise FailedPrecondition(
            f"nodes run on {', '.join(sorted(hosts))}, not on this machine: starting them through "
            "`edge agent` is not wired into this launcher yet; run `edge launch` on each "
            "machine with the nodes of its host")


class AgentLink:
    def __init__(self, host: HostSpec, session: str, log: Callable[[str], None], peer_keys: str):
        self.host, self.session, self.log, self.peer_keys = host, session, log, peer_keys
        address = f"[{host.address}]" if ":" in host.address else host.address
        self.endpoint = f"tcp://{address}:{host.agent_port}"
        self.children: dict[str, "RemoteChild"] = {}
        self.up = False
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"agent-{host.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def call(self, child: "RemoteChild", method: str, body: dict) -> None:
        """Send from the link's thread; the reply or error reaches `child` as an event."""
        self._commands.put((child, method, body))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        client = Client(self.endpoint, timeout_s=CALL_TIMEOUT_S, retries=0,
                        server_key=self.host.key)
        cursor, boot_id, last_ok = 0, None, time.monotonic()
        try:
            while not self._stop.is_set():
                self._send_commands(client)
                try:
                    reply = client.call("agent.poll", {"session": self.session, "cursor": cursor})
                except EdgeError as exc:
                    if self.up and time.monotonic() - last_ok > LOST_AFTER_S:
                        self._lost(f"the agent on host {self.host.name!r} is not answering ({exc})",
                                   boot_id)
                    self._stop.wait(POLL_S)
                    continue
                if boot_id is not None and reply["boot_id"] != boot_id:
                    self._lost(f"the agent on host {self.host.name!r} restarted", boot_id)
                    cursor = 0
                if not self.up:
                    self.log(f"agent on host {self.host.name!r} ({self.endpoint}) is up")
                boot_id, self.up, last_ok = reply["boot_id"], True, time.monotonic()
                for seq, kind, name, payload in reply["events"]:
                    cursor = max(cursor, seq)
                    if name in self.children:
                        self.children[name].inbox.put((kind, payload))
                self._stop.wait(POLL_S)
        finally:
            client.close()

    def _send_commands(self, client: Client) -> None:
        while True:
            try:
                child, method, body = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                result = client.call(method, {"session": self.session, **body})
                child.inbox.put((method, result))
            except EdgeError as exc:
                child.inbox.put((method + ":failed", str(exc)))

    def _lost(self, reason: str, boot_id: Optional[str]) -> None:
        """Nodes started by the agent run `boot_id` are gone."""
        self.up = False
        for child in self.children.values():
            child.inbox.put(("lost", (reason, boot_id)))


class RemoteChild:
    """A node run by an agent: the ChildProcess interface the supervisor and commands use."""

    output_fd = None

    def __init__(self, name: str, env: dict, policy: RestartPolicy, printer: OutputPrinter,
                 link: AgentLink, control: str, *, log: Callable[[str], None],
                 node_env: dict | None = None, clock: Callable[[], float] = time.monotonic):
        self.name, self.env, self.policy, self.printer = name, env, policy, printer
        self.node_env = dict(node_env or {})   # the launch file's `env:` for this node
        self.link, self.control, self.log, self.clock = link, control, log, clock
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.state, self.pid, self.restarts, self.exit_code = "stopped", None, 0, None
        self.started_at = self.ready_at = self.restart_at = self._stop_deadline = None
        self.reported: dict = {}
        self.boot_id: Optional[str] = None   # the agent run that started this node
        self._then_start = False
        self._awaiting_start = False          # agent.start sent, no answer yet
        link.children[name] = self
        printer.add(name)

    @property
    def alive(self) -> bool:
        return self.state in ("starting", "running", "stopping")

    def start(self) -> None:
        self.policy.reset()
        self._spawn()

    def _spawn(self) -> None:
        config = NodeConfig.from_json(self.env[ENV_VAR])
        config.control = self.control
        env = {**{k: v for k, v in self.env.items() if k in ENV_FORWARDED}, **self.node_env}
        env[CONTROL_ENV_VAR] = self.control
        env[PEER_KEYS_ENV] = self.link.peer_keys
        self.state, self.started_at, self.pid, self.exit_code = "starting", self.clock(), None, None
        self.ready_at, self.restart_at, self.reported = None, None, {}
        self.boot_id, self._awaiting_start = None, True
        self.link.call(self, "agent.start", {"config": config.to_json(), "env": env})

    def stop(self, grace_s: float) -> None:
        self._then_start = False
        if self.state == "backoff":
            self.state, self.restart_at = "stopped", None
        if not self.alive or self.state == "stopping":
            return
        self.state, self._stop_deadline = "stopping", self.clock() + grace_s + 5.0
        self.link.call(self, "agent.stop", {"name": self.name, "grace_s": grace_s})

    def restart(self, grace_s: float) -> None:
        if not self.alive:
            self.restarts += 1
            self.start()
        else:
            self.stop(grace_s)
            self._then_start = True

    def kill(self) -> None:
        self.stop(0.0)

    def read_output(self) -> None:
        pass

    def mark_ready(self, body: dict) -> bool:
        if self.state != "starting":
            return False
        self.state, self.ready_at, self.reported = "running", self.clock(), dict(body)
        return True

    def next_deadline(self) -> Optional[float]:
        return self.restart_at if self.state == "backoff" else self._stop_deadline \
            if self.state == "stopping" else None

    def describe(self) -> dict:
        return {"name": self.name, "state": self.state, "pid": self.pid, "restarts": self.restarts,
                "uptime_s": round(self.clock() - self.started_at, 3) if self.alive else 0.0,
                "ready": self.state == "running", "exit_code": self.exit_code,
                "restart": self.policy.mode, "max_restarts": self.policy.max_restarts,
                "host": self.link.host.name}

    def tick(self) -> None:
        while True:
            try:
                kind, payload = self.inbox.get_nowait()
            except queue.Empty:
                break
            self._apply(kind, payload)
        now = self.clock()
        if self.state == "backoff" and self.restart_at is not None and now >= self.restart_at:
            self.restarts += 1
            self._spawn()
        elif self.state == "stopping" and now >= self._stop_deadline:
            self._gone("stopped", None)   # the agent never confirmed; its heartbeat stops it

    def _apply(self, kind: str, payload) -> None:
        if kind == "line":
            self.printer.line(self.name, payload)
        elif kind == "agent.start":
            self._awaiting_start = False
            if self.state == "starting":
                self.pid, self.boot_id = payload["pid"], payload["boot_id"]
        elif kind == "exit" and payload["pid"] == self.pid and self.alive:
            self._exited(payload["exit_code"])
        elif kind == "agent.start:failed":
            self._awaiting_start = False
            if self.state == "starting":
                self._lose(payload)
        elif kind == "lost" and not self._awaiting_start and self.boot_id in (None, payload[1]):
            if self.state in ("starting", "running"):
                self._lose(payload[0])
            elif self.state == "stopping":
                self._gone("stopped", None)
        elif kind == "agent.stop:failed" and self.state == "stopping":
            self._gone("stopped", None)

    def _lose(self, reason: str) -> None:
        self.log(f"node {self.name!r} lost: {reason}; retrying in {LOST_RETRY_S:g} s")
        self.state, self.pid, self.restart_at = "backoff", None, self.clock() + LOST_RETRY_S

    def _exited(self, code: Optional[int]) -> None:
        if self.state == "stopping":
            self._gone("stopped", code)
            return
        self.pid, self.exit_code = None, code
        decision = self.policy.after_exit(code if code is not None else -9,
                                          self.clock() - (self.started_at or self.clock()))
        self.state = decision.state
        if decision.state == "backoff":
            self.restart_at = self.clock() + decision.delay_s
        self.log(f"node {self.name!r} on host {self.link.host.name!r} {decision.reason}")

    def _gone(self, state: str, code: Optional[int]) -> None:
        self.state, self.pid, self.exit_code, self._stop_deadline = state, None, code, None
        if self._then_start:
            self._then_start = False
            self.restarts += 1
            self.start()


class Remote:
    """The agent links of one launch; nodes of remote hosts become RemoteChild."""

    def __init__(self, graph: Graph, control_endpoint: str, log: Callable[[str], None]):
        self.graph, self.log = graph, log
        self.hosts = remote_hosts(graph)
        if self.hosts and (not control_endpoint.startswith("tcp://")
                           or any(w in control_endpoint for w in ("0.0.0.0", "*", "[::]"))):
            raise FailedPrecondition(
                f"nodes run on {', '.join(sorted(self.hosts))}: bind the control endpoint on an "
                "address they can reach, e.g. --control tcp://10.0.0.1:5600")
        self.control = control_endpoint
        session = uuid.uuid4().hex[:12]
        # remote nodes also trust this launcher, and know its key for the control endpoint
        # names with ":" cannot clash with `edge keys trust` names (the user id decides the role)
        launcher = {"name": f"launcher:{endpoint_host(control_endpoint)}",
                    "public_key": keys.load_identity().public.decode(), "role": "admin",
                    "address": endpoint_host(control_endpoint)}
        peers = json.dumps(json.loads(os.environ.get(PEER_KEYS_ENV, "[]")) + [launcher])
        self.links = {name: AgentLink(host, session, log, peers)
                      for name, host in self.hosts.items()}

    def runs(self, node) -> bool:
        return node.host in self.links

    def child(self, node, env: dict, policy: RestartPolicy, printer: OutputPrinter,
              clock) -> RemoteChild:
        return RemoteChild(node.name, env, policy, printer, self.links[node.host], self.control,
                           log=self.log, node_env=node.env, clock=clock)

    def start(self) -> None:
        for link in self.links.values():
            link.start()

    def close(self) -> None:
        for link in self.links.values():
            link.close()
