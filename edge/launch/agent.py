"""`edge agent`: starts and stops a launcher's nodes on this machine (docs/DEPLOY.md).

A launcher (`edge launch` on another machine) calls, over CURVE with an admin key:
  agent.start {session, config, env,         run `python -m edge.run` with that node config
               script?: {name, source}}      and env added to the agent's environment; a
                                             script type is stored in the agent's private
                                             runtime dir first (edge.launch.scripts)
  agent.stop  {session, name, grace_s}       stop event, grace, SIGTERM, SIGKILL
  agent.poll  {session, cursor, wait_ms?}     output lines and exits since `cursor`, held
                                             up to `wait_ms` (at most 2000) until there are
                                             some; also the launcher's heartbeat
A session not polled for `heartbeat_timeout_s` has lost its launcher: its nodes are
stopped. `boot_id` changes when the agent restarts, so a launcher knows its nodes are gone.
One thread owns the socket and the children, like the supervisor.
"""
from __future__ import annotations

import collections
import itertools
import logging
import os
import sys
import time
import uuid
from typing import Optional

import zmq

from edge.config import CONTROL_ENV_VAR, ENV_VAR, NODE_NAME, NodeConfig
from edge.endpoints import runtime_dir
from edge.errors import FailedPrecondition, InvalidArgument, NotFound
from edge.launch.process import ChildProcess
from edge.launch.restart import RestartPolicy
from edge.launch.scripts import MAX_SCRIPT_BYTES, remove_scripts, store_script
from edge.service import Request, Service
from edge.signals import StopSignals
from messages.codec import CONTROL_LIMITS, short

log = logging.getLogger("edge.agent")

HEARTBEAT_TIMEOUT_S = 3.0
IDLE_WAKE_S = 1.0          # with nothing due, the loop still wakes this often
EXIT_POLL_S = 0.05         # where the kernel has no pidfd, exits are polled this often
MAX_EVENTS = 5000          # per session: output lines and exits not yet polled
MAX_POLL_WAIT_MS = 2000    # a held poll counts as a heartbeat; well within the timeout
# what a launcher passes of its own environment; plus the node's `env:` from the launch file
ENV_FORWARDED = (CONTROL_ENV_VAR, "EDGE_PEER_KEYS", "EDGE_INSECURE")
# small commands, plus one node script
AGENT_LIMITS = CONTROL_LIMITS.replace(max_header_bytes=MAX_SCRIPT_BYTES + (256 << 10),
                                      max_total_bytes=MAX_SCRIPT_BYTES + (256 << 10))


def _checked_env(env: dict) -> dict[str, str]:
    """A node's extra environment: names without '=' or NUL, values without NUL."""
    checked = {}
    for key, value in env.items():
        key, value = str(key), str(value)
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise InvalidArgument(f"agent.start: env {short(key)} is not a valid variable "
                                  "(a name without '=' or NUL, a value without NUL)")
        checked[key] = value
    return checked


class SessionLog:
    """A ChildProcess printer that keeps lines for the launcher to poll (bounded)."""

    def __init__(self, counter):
        self.events: collections.deque = collections.deque(maxlen=MAX_EVENTS)
        self._counter = counter
        self.last_seen = time.monotonic()
        self.held: Optional[tuple] = None  # a poll waiting for events: (responder, cursor, until)

    def has_since(self, cursor: int) -> bool:
        return bool(self.events) and self.events[-1][0] > cursor

    def add(self, name: str) -> None:
        pass

    def line(self, name: str, text: str) -> None:
        self.events.append((next(self._counter), "line", name, text))

    def exit(self, name: str, pid: Optional[int], code: Optional[int]) -> None:
        self.events.append((next(self._counter), "exit", name, {"pid": pid, "exit_code": code}))

    def since(self, cursor: int) -> list:
        return [list(e) for e in self.events if e[0] > cursor]


class Agent:
    def __init__(self, endpoint: str, *, heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S):
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.boot_id = uuid.uuid4().hex[:12]
        self.scripts_dir = runtime_dir() / f"agent-{self.boot_id}"  # private: 0700 runtime dir
        self.service = Service(endpoint, name="agent", limits=AGENT_LIMITS)
        self.sessions: dict[str, SessionLog] = {}
        self.children: dict[tuple[str, str], ChildProcess] = {}
        self._pids: dict[tuple[str, str], Optional[int]] = {}
        self._counter = itertools.count(1)
        for method, handler in (("agent.start", self._start), ("agent.stop", self._stop),
                                ("agent.poll", self._poll)):
            self.service.add(method, handler)
        self.service.add("agent.nodes", self._nodes, role="read")

    # -- commands (on the loop thread) ------------------------------------------------------
    def _session(self, request: Request) -> SessionLog:
        body = request.body if isinstance(request.body, dict) else {}
        session = body.get("session")
        if not isinstance(session, str) or not session:
            raise InvalidArgument(f"{request.method} needs {{session: str}}")
        found = self.sessions.get(session)
        if found is None:
            found = self.sessions[session] = SessionLog(self._counter)
        found.last_seen = time.monotonic()
        return found

    def _start(self, request: Request) -> dict:
        session = self._session(request)
        body = request.body
        config, env = body.get("config"), body.get("env") or {}
        if not isinstance(config, str) or not isinstance(env, dict):
            raise InvalidArgument("agent.start needs {session, name, config: json, env: map}")
        try:
            node_config = NodeConfig.from_json(config)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidArgument(f"agent.start: config is not a node config: {exc}") from None
        name = node_config.name
        if not NODE_NAME.match(name):  # a string: from_json checked the config's types
            raise InvalidArgument(f"agent.start: node name {short(name)} is not letters, digits, "
                                  "'_', '.' or '-'")
        env = _checked_env(env)
        key = (body["session"], name)
        child = self.children.get(key)
        if child is not None and child.alive:
            raise FailedPrecondition(f"node {name!r} is already running here (pid {child.pid})")
        if body.get("script") is not None:
            node_config.type = str(store_script(self.scripts_dir, key[0], body["script"]))
            config = node_config.to_json()
        node_env = {**os.environ, **env, ENV_VAR: config, "PYTHONUNBUFFERED": "1"}
        child = ChildProcess(name, [sys.executable, "-u", "-m", "edge.run"], node_env,
                             RestartPolicy("never"), session, log=log.info)
        self.children[key] = child
        child.start()
        self._pids[key] = child.pid
        log.info("started node %r (pid %s) for launcher session %s", name, child.pid, key[0])
        return {"name": name, "pid": child.pid, "boot_id": self.boot_id}

    def _stop(self, request: Request) -> dict:
        self._session(request)
        key = (request.body["session"], request.body.get("name"))
        if not isinstance(key[1], str):
            raise InvalidArgument(f"agent.stop needs {{session, name: str}}, got name {short(key[1])}")
        child = self.children.get(key)
        if child is None:
            raise NotFound(f"no node {key[1]!r} of this launcher here")
        grace_s = request.body.get("grace_s", 5.0)
        if not isinstance(grace_s, (int, float)) or not 0 <= grace_s <= 600:
            raise InvalidArgument(f"agent.stop: grace_s must be 0..600 seconds, got {grace_s!r}")
        child.stop(float(grace_s))
        return {"name": key[1], "state": child.state}

    def _poll(self, request: Request) -> Optional[dict]:
        """Answered at once when there are events after `cursor` (or no `wait_ms`), else held
        until some come or `wait_ms` passes (`_answer_held`). One held poll per session: a
        newer one answers the older."""
        session = self._session(request)
        cursor, wait_ms = request.body.get("cursor", 0), request.body.get("wait_ms", 0)
        cursor = cursor if type(cursor) is int else 0
        if type(wait_ms) is not int or not 0 <= wait_ms <= MAX_POLL_WAIT_MS:
            raise InvalidArgument(f"agent.poll: wait_ms must be 0..{MAX_POLL_WAIT_MS}, "
                                  f"got {short(wait_ms)}")
        mine = request.body["session"]
        if wait_ms == 0 or session.has_since(cursor):
            return self._poll_reply(mine, cursor)
        if session.held is not None:
            self._answer(mine, session)
        session.held = (request.defer(), cursor, time.monotonic() + wait_ms / 1000)
        return None

    def _poll_reply(self, mine: str, cursor: int) -> dict:
        return {"boot_id": self.boot_id, "events": self.sessions[mine].since(cursor),
                "nodes": {name: {"pid": c.pid, "state": c.state}
                          for (s, name), c in self.children.items() if s == mine}}

    def _answer_held(self, now: float) -> None:
        for name, session in self.sessions.items():
            if session.held is not None:
                session.last_seen = now  # the launcher is waiting on us: it is alive
                _, cursor, until = session.held
                if session.has_since(cursor) or now >= until:
                    self._answer(name, session)

    def _answer(self, name: str, session: SessionLog) -> None:
        responder, cursor, _ = session.held
        session.held = None
        responder.reply(self._poll_reply(name, cursor))

    def _nodes(self, request: Request) -> list:
        return [{"session": s, **c.describe()} for (s, _), c in self.children.items()]

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        """Serve until SIGINT/SIGTERM, then stop every node and return 0."""
        asked: list = []
        signals = StopSignals(asked.append)
        stopping = False
        log.info("agent %s listening on %s", self.boot_id, self.service.endpoint)
        try:
            while True:
                self._tick()
                if asked and not stopping:
                    stopping = True
                    log.info("stopping: %d node(s)", sum(c.alive for c in self.children.values()))
                    for child in self.children.values():
                        child.stop(2.0)
                if stopping and not any(c.alive for c in self.children.values()):
                    return 0
                self._poll_once(signals)
        finally:
            for child in self.children.values():
                child.kill()
            self.service.close()
            signals.close()
            remove_scripts(self.scripts_dir)

    def _poll_once(self, signals: StopSignals) -> None:
        poller = zmq.Poller()
        for item, flags in self.service.poll_items():
            poller.register(item, flags)
        poller.register(signals.wake_fd, zmq.POLLIN)
        outputs = {c.output_fd: c for c in self.children.values() if c.output_fd is not None}
        exits = {c.exit_fd for c in self.children.values() if c.exit_fd is not None}
        for fd in (*outputs, *exits):  # an exit only wakes the loop; _tick reaps it
            poller.register(fd, zmq.POLLIN)
        for item, _ in poller.poll(self._wait_ms()):
            if item == signals.wake_fd:
                signals.clear()
            elif item in outputs:
                outputs[item].read_output()
            elif item not in exits:
                self.service.process()

    def _wait_ms(self) -> int:
        """Until the next stop escalation or heartbeat expiry; a short poll without pidfds."""
        now, children = time.monotonic(), list(self.children.values())
        deadlines = [d for c in children if (d := c.next_deadline()) is not None]
        deadlines += [expiry for s in self.sessions.values()   # past ones were handled
                      if (expiry := s.last_seen + self.heartbeat_timeout_s) > now]
        deadlines += [s.held[2] for s in self.sessions.values() if s.held is not None]
        if any(c.exit_polled for c in children):
            deadlines.append(now + EXIT_POLL_S)
        due = min(deadlines, default=now + IDLE_WAKE_S)
        return max(1, int(min(IDLE_WAKE_S, due - now + 0.001) * 1000))

    def _tick(self) -> None:
        now = time.monotonic()
        for key, child in list(self.children.items()):
            child.tick()
            if not child.alive and self._pids.get(key) is not None:
                self.sessions[key[0]].exit(key[1], self._pids[key], child.exit_code)
                self._pids[key] = None
        self._answer_held(now)
        for session, entry in list(self.sessions.items()):
            live = [c for (s, _), c in self.children.items() if s == session and c.alive]
            if now - entry.last_seen > self.heartbeat_timeout_s:
                if live and any(c.state != "stopping" for c in live):
                    log.warning("launcher session %s silent for %.1f s: stopping its %d node(s)",
                                session, now - entry.last_seen, len(live))
                    for child in live:
                        child.stop(2.0)
                elif not live:
                    self._forget(session)

    def _forget(self, session: str) -> None:
        del self.sessions[session]
        remove_scripts(self.scripts_dir, session)
        for key in [k for k in self.children if k[0] == session]:
            del self.children[key]
            self._pids.pop(key, None)
