"""A node run by `edge agent` on another machine, offered to the supervisor as a ChildProcess.

Its events (output lines, the agent's replies, exits, a lost agent) are put in `inbox`
by the host's AgentLink thread, which then wakes the supervisor's loop; `tick()` (on
that loop) applies them. So `exit_fd` and `output_fd` are None and nothing is polled:
`exit_polled` is False. States and the restart policy are those of ChildProcess.
"""
from __future__ import annotations

import itertools
import queue
import time
from pathlib import Path
from typing import Callable, Optional, Union

from edge.config import CONTROL_ENV_VAR, ENV_VAR, NodeConfig
from edge.errors import EdgeError, FailedPrecondition, InvalidArgument, PermissionDenied
from edge.launch.agent import ENV_FORWARDED
from edge.launch.process import LIVE_STATES, OutputPrinter, Supervised
from edge.launch.restart import RestartPolicy
from edge.launch.scripts import MAX_SCRIPT_BYTES
from edge.security import PEER_KEYS_ENV

LOST_RETRY_S = 1.0
STOP_CONFIRM_S = 5.0   # beyond the grace period: no word from the agent, count it stopped
KILL_CONFIRM_S = 2.0
_spawns = itertools.count(1)


class RemoteChild(Supervised):
    output_fd = None
    exit_fd = None
    exit_polled = False

    def __init__(self, name: str, env: Union[dict, Callable[[], dict]], policy: RestartPolicy,
                 printer: OutputPrinter, link, control: str, *, log: Callable[[str], None],
                 node_env: dict | None = None, script: Optional[Path] = None,
                 clock: Callable[[], float] = time.monotonic):
        """`link`: the host's edge.launch.remote.AgentLink; `script`: a node type given as a
        script path, sent to the agent with each start."""
        self.name, self.env, self.policy, self.printer = name, env, policy, printer
        self.node_env = dict(node_env or {})   # the launch file's `env:` for this node
        self.link, self.control, self.log, self.clock = link, control, log, clock
        self.script = script
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.state, self.pid, self.restarts, self.exit_code = "stopped", None, 0, None
        self.started_at = self.ready_at = self.restart_at = None
        self._stop_deadline: Optional[float] = None
        self.reported: dict = {}
        self.boot_id: Optional[str] = None   # the agent run that started this node
        self._then_start = False
        self._spawn_id: Optional[int] = None  # agent.start sent for this spawn, no answer yet
        self._lost = False                    # lost, and said so once: retries stay quiet
        link.children[name] = self
        printer.add(name)

    @property
    def host(self) -> str:
        return self.link.host.name

    @property
    def alive(self) -> bool:
        return self.state in LIVE_STATES

    # -- what the supervisor asks, as of a ChildProcess ---------------------------------------
    def stop(self, grace_s: float) -> None:
        self._then_start = False
        self._leave_backoff()
        if not self.alive or self.state == "stopping":
            return
        self.state = "stopping"
        self._stop_deadline = self.clock() + grace_s + STOP_CONFIRM_S
        self.link.call(self, "agent.stop", {"name": self.name, "grace_s": grace_s})

    def kill(self) -> None:
        """No grace: the agent sends SIGKILL after its stop event (grace 0)."""
        self._then_start = False
        self._leave_backoff()
        if not self.alive:
            return
        self.state, self._stop_deadline = "stopping", self.clock() + KILL_CONFIRM_S
        self.link.call(self, "agent.stop", {"name": self.name, "grace_s": 0.0})

    def read_output(self) -> None:
        pass   # lines arrive in the inbox

    def mark_ready(self, body: dict) -> bool:
        if not super().mark_ready(body):
            return False
        if self.pid is None:
            self.pid = body.get("pid")
        return True

    def next_deadline(self) -> Optional[float]:
        if self.state == "backoff":
            return self.restart_at
        return self._stop_deadline if self.state == "stopping" else None

    def describe(self) -> dict:
        return {"name": self.name, "state": self.state, "pid": self.pid, "restarts": self.restarts,
                "uptime_s": round(self.clock() - self.started_at, 3) if self.alive else 0.0,
                "ready": self.state == "running", "exit_code": self.exit_code,
                "restart": self.policy.mode, "max_restarts": self.policy.max_restarts,
                "host": self.host}

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
            self._gone(None)   # the agent never confirmed; its heartbeat stops the node

    # -- internals ------------------------------------------------------------------------------
    def _spawn(self) -> None:
        env_now = self.env() if callable(self.env) else self.env
        config = NodeConfig.from_json(env_now[ENV_VAR])
        config.control = self.control
        env = {**{k: v for k, v in env_now.items() if k in ENV_FORWARDED}, **self.node_env}
        env[CONTROL_ENV_VAR] = self.control
        env[PEER_KEYS_ENV] = self.link.peer_keys
        body = {"config": config.to_json(), "env": env}
        if self.script is not None:
            try:
                body["script"] = {"name": self.script.name, "source": read_script(self.script)}
            except (OSError, ValueError) as exc:
                self.state, self.pid = "failed", None
                self.log(f"node {self.name!r} failed: {exc}")
                return
        self.state, self.started_at, self.pid, self.exit_code = "starting", self.clock(), None, None
        self.ready_at, self.restart_at, self.reported, self.boot_id = None, None, {}, None
        self._spawn_id = next(_spawns)
        self.link.call(self, "agent.start", body, tag=self._spawn_id)

    def _apply(self, kind: str, payload) -> None:
        if kind == "line":
            self.printer.line(self.name, payload)
        elif kind == "log":
            self.log(payload)
        elif kind == "agent.start":
            self._started(*payload)
        elif kind == "agent.start:failed":
            self._start_failed(*payload)
        elif kind == "exit" and self.alive and payload.get("pid") == self.pid:
            self._exited(payload.get("exit_code"))
        elif kind == "lost" and self._spawn_id is None and self.boot_id in (None, payload[1]):
            if self.state in ("starting", "running"):
                self._lose(payload[0])
            elif self.state == "stopping":
                self._gone(None)
        elif kind == "agent.stop:failed" and self.state == "stopping":
            self._gone(None)   # e.g. the agent no longer has it: nothing left to stop

    def _started(self, tag: int, result: dict) -> None:
        if tag != self._spawn_id:
            return   # the answer to a start since superseded
        self._spawn_id = None
        if self.alive:
            self.pid, self.boot_id, self._lost = result.get("pid"), result.get("boot_id"), False

    def _start_failed(self, tag: int, error: EdgeError) -> None:
        if tag != self._spawn_id:
            return
        self._spawn_id = None
        if self.state == "stopping":
            self._gone(None)
        elif self.state == "starting" and isinstance(error, (InvalidArgument, PermissionDenied)):
            self.state, self.pid, self._lost = "failed", None, False   # retrying cannot help
            self.log(f"node {self.name!r} FAILED: the agent on host {self.host!r} refused to "
                     f"start it: {error}")
        elif self.state == "starting":
            if isinstance(error, FailedPrecondition):   # the agent still runs the run we lost
                self.link.call(self, "agent.stop", {"name": self.name, "grace_s": 0.0})
            self._lose(str(error), "not started")

    def _lose(self, reason: str, what: str = "lost") -> None:
        if not self._lost:
            self.log(f"node {self.name!r} {what}: {reason}; retrying every {LOST_RETRY_S:g} s")
        self._lost = True
        self.state, self.pid, self.restart_at = "backoff", None, self.clock() + LOST_RETRY_S

    def _exited(self, code: Optional[int]) -> None:
        if self.state == "stopping":
            self._gone(code)
            return
        now = self.clock()
        self.pid, self.exit_code = None, code
        decision = self.policy.after_exit(code if code is not None else -9,
                                          now - (self.started_at or now))
        self.state = decision.state
        if decision.state == "backoff":
            self.restart_at = now + decision.delay_s
        how = "FAILED: " if decision.state == "failed" else ""
        self.log(f"node {self.name!r} on host {self.host!r} {how}{decision.reason}")

    def _gone(self, code: Optional[int]) -> None:
        self.state, self.pid, self.exit_code, self._stop_deadline = "stopped", None, code, None
        if self._then_start:
            self._then_start = False
            self.restarts += 1
            self.start()


def read_script(path: Path) -> bytes:
    """A node script's bytes, for the agent; ValueError beyond MAX_SCRIPT_BYTES."""
    with open(path, "rb") as file:
        source = file.read(MAX_SCRIPT_BYTES + 1)
    if len(source) > MAX_SCRIPT_BYTES:
        raise ValueError(f"node script {path} is larger than {MAX_SCRIPT_BYTES} bytes, "
                         "the most an agent accepts")
    return source
