"""`edge launch`: run a checked graph, one process per node, until told to stop.

One thread owns every socket and child: it waits on one poller for events (a control
request, a child's output, a child's exit through its pidfd, a signal or a wake-up)
and until the next deadline (a backoff, a stop escalation, a command's timeout).
Control commands reach it only through the public methods under "control surface";
those that must wait on a node run on a bounded worker pool and answer with a Future.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Optional

import zmq

from edge.config import CONTROL_ENV_VAR, ENV_VAR
from edge.endpoints import runtime_dir
from edge.errors import FailedPrecondition, NotFound
from edge.launch.children import Children
from edge.launch.commands import serve as serve_commands
from edge.launch.endpoint import ControlEndpoint, bind as bind_control
from edge.launch.forkserver import (ForkServer, interpreter_env, reap_orphans,
                                    wanted as fork_server_wanted)
from edge.launch.graph import Graph
from edge.launch.hosts import place_on_hosts, refuse_control_on_node_ports, server_key_of
from edge.launch.remote import Remote, share_host_keys
from edge.launch.guardian import Guardian
from edge.launch.process import ChildProcess, OutputPrinter
from edge.launch.restart import RestartPolicy
from edge.launch.waiters import Waiters
from edge.launch.wiring import Wiring, launch_directory, plan
from edge.launch.workers import NodeCalls, Workers
from edge.signals import StopSignals

LOCAL_HOST = "local"  # `edge nodes` HOST of a node without `host:`
IDLE_WAKE_S = 1.0  # with nothing due, the loop still wakes this often (a safety net)
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Supervisor:
    def __init__(self, graph: Graph, types: dict, *, control: Optional[str] = None,
                 grace_s: float = 5.0, ready_timeout_s: float = 15.0,
                 duration_s: Optional[float] = None, printer: Optional[OutputPrinter] = None,
                 restart_base_s: float = 0.2, restart_cap_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 fork_server: Optional[ForkServer] = None):
        """`fork_server`: one started early by the caller (it stays the caller's to close);
        without it one is started here unless EDGE_FORK_SERVER=0."""
        self.graph, self.types = graph, types
        self.grace_s, self.ready_timeout_s, self.duration_s = grace_s, ready_timeout_s, duration_s
        self.printer = printer or OutputPrinter()
        self.printer.add("edge")
        self.clock = clock
        self._control_arg = control
        self._restart = dict(base_s=restart_base_s, cap_s=restart_cap_s)
        self._children = Children()
        self._wiring: Optional[Wiring] = None
        self._control: Optional[ControlEndpoint] = None
        self._workers = Workers()
        self._calls = NodeCalls(self._workers, types)
        self._waiters = Waiters(clock)
        self._guardian: Optional[Guardian] = None
        self._forks, self._own_forks = fork_server, fork_server is None
        self._remote: Optional[Remote] = None  # nodes on other machines, through agents
        self._signals: Optional[StopSignals] = None
        self._poller = zmq.Poller()
        self._polled: dict = {}
        self.started_at = clock()
        self.stopping = False
        self._exit_code: Optional[int] = None
        self._stop_requested: Optional[tuple[int, str]] = None
        self._launch_dir: Optional[Path] = None
        self._all_ready_logged = False
        self._ready_timeout_logged = False
        self._hard_deadline: Optional[float] = None
        self._stop_started = 0.0

    def run(self) -> int:
        """Run until stopped; the exit code: 0, 1 (a node failed), 130 (SIGINT), 143 (SIGTERM)."""
        self._signals = StopSignals(self._on_signal)
        try:
            self._prepare()
            self._start_all()
            self._loop()
            return self._exit_code if self._exit_code is not None else 0
        except KeyboardInterrupt:  # a second Ctrl-C: no more grace
            self.log("interrupted again: killing every node now")
            self._children.kill_all()
            return 130
        finally:
            self._cleanup()
            self._signals.close()

    def log(self, text: str) -> None:
        self.printer.line("edge", text)

    @property
    def uptime_s(self) -> float:
        return self.clock() - self.started_at

    # -- control surface (edge.launch.commands.ControlSurface), on the loop thread -----------------
    def node_names(self) -> list[str]:
        return self._children.names()

    def describe(self, name: str) -> dict:
        child, node = self._child(name), self.graph.node(name)
        return {"host": node.host or LOCAL_HOST, **child.describe(), "type": node.type,
                "endpoint": self._wiring.publishers[name], "service": self._wiring.services[name]}

    def resolve(self, topic: str) -> dict:
        route = self._wiring.routes.get(topic)
        if route is not None:
            return {"topic": topic, "endpoint": route.endpoint, "external": route.external,
                    "publisher": route.publisher, **server_key_of(self.graph, route.publisher)}
        for child in self._children:  # a script may publish topics it did not declare
            endpoint = child.reported.get("endpoints", {}).get(topic)
            if endpoint:
                return {"topic": topic, "endpoint": endpoint, "external": False,
                        "publisher": child.name}
        raise NotFound(f"graph {self.graph.name!r} has no topic {topic!r}")

    def node_ready(self, name: str, pid: int, endpoints: dict, service: Optional[str]) -> None:
        child = self._child(name)
        if child.mark_ready({"pid": pid, "endpoints": endpoints, "service": service}):
            took = child.ready_at - child.started_at
            again = " again" if child.restarts else ""
            self.log(f"node {name!r} ready{again} (pid {pid}) in {took:.2f} s")

    def stop(self, name: str) -> Future:
        child = self._child_to_command(name)
        self.log(f"stopping node {name!r} (asked over the control endpoint)")
        child.stop(self.grace_s)
        return self._settled(child, lambda: not child.alive)

    def start(self, name: str) -> Future:
        child = self._child_to_command(name)
        if child.alive:
            raise FailedPrecondition(f"node {name!r} is already {child.state} (pid {child.pid})")
        self.log(f"starting node {name!r} (asked over the control endpoint)")
        child.start()
        return self._settled(child, lambda: child.state != "starting")

    def restart(self, name: str) -> Future:
        child = self._child_to_command(name)
        old_pid = child.pid
        self.log(f"restarting node {name!r} (asked over the control endpoint)")
        child.restart(self.grace_s)
        return self._settled(child, lambda: child.pid != old_pid
                             and child.state not in ("starting", "stopping"))

    def param_get(self, name: str, key: Optional[str]) -> Future:
        return self._calls.param_get(name, self._service_of_running(name, "param.get"), key)

    def param_set(self, name: str, key: str, value: Any) -> Future:
        return self._calls.param_set(name, self._service_of_running(name, "param.set"), key,
                                     value)

    def stats(self, name: Optional[str]) -> Future:
        if name is not None:
            return self._calls.stats(name, self._service_of_running(name, "stats"))
        return self._calls.all_stats(
            {"graph": self.graph.name, "uptime_s": round(self.uptime_s, 3),
             "restarts": {c.name: c.restarts for c in self._children}},
            self._live_services())

    def topics(self) -> Future:
        return self._calls.topics(self._wiring.routes, self._live_services())

    def shutdown(self, reason: str, code: int = 0) -> None:
        """Stop every node and end the launch with `code`; the first request wins."""
        if self._stop_requested is None:
            self._stop_requested = (code, reason)

    def _child(self, name: str) -> ChildProcess:
        child = self._children.get(name)
        if child is None:
            known = ", ".join(self._children.names()) or "none"
            raise NotFound(f"no node {name!r} in graph {self.graph.name!r} (nodes: {known})")
        return child

    def _child_to_command(self, name: str) -> ChildProcess:
        child = self._child(name)
        if self.stopping:
            raise FailedPrecondition(f"graph {self.graph.name!r} is shutting down")
        return child

    def _service_of_running(self, name: str, method: str) -> str:
        child = self._child(name)
        if child.state not in ("starting", "running"):
            raise FailedPrecondition(f"node {name!r} is {child.state}; {method} needs it running")
        return self._wiring.services[name]

    def _live_services(self) -> dict:
        return {c.name: self._wiring.services[c.name]
                for c in self._children.in_states("starting", "running")}

    def _settled(self, child: ChildProcess, done: Callable[[], bool]) -> Future:
        """A Future of the node's description once `done()`, or with `timed_out` after a while."""
        future: Future = Future()
        self._waiters.add(done, lambda: future.set_result(self.describe(child.name)),
                          timeout_s=self.grace_s + self.ready_timeout_s,
                          on_timeout=lambda: future.set_result(
                              {**self.describe(child.name), "timed_out": True}))
        return future

    # -- starting ----------------------------------------------------------------------------------
    def _prepare(self) -> None:
        self._launch_dir = launch_directory(runtime_dir())
        refuse_control_on_node_ports(self.graph, self._control_arg)
        share_host_keys(self.graph)  # before the first bind: the ZAP handler reads them once
        self._control = bind_control(self._control_arg, self.graph.name, self.log)
        serve_commands(self, self._control.service)
        self._wiring = plan(self.graph, self._launch_dir, self._control.for_nodes)
        place_on_hosts(self._wiring, self.graph)
        self._remote = Remote(self.graph, self._control.service.endpoint, self.log,
                              self._signals.wake)
        self._guardian = Guardian.start(self.grace_s)
        if self._forks is None and fork_server_wanted(os.environ):
            self._forks = ForkServer(self.graph.base_dir, os.environ)
        if self._forks is not None:
            self._forks.log = self.log
        popen = self._forks.popen if self._forks is not None else subprocess.Popen
        for node in self.graph.nodes:
            self._children.add(self._make_child(node, popen))
        self._remote.start()

    def _make_child(self, node, popen) -> ChildProcess:
        """A local ChildProcess, or a RemoteChild (same interface) for a node on another host."""
        policy = RestartPolicy(node.restart, node.max_restarts, **self._restart)
        env = lambda: self._env(node.name)  # noqa: E731 (read at each start: live parameters)
        if self._remote.runs(node):
            return self._remote.child(node, env, policy, self.printer, self.clock,
                                      self.types[node.name])
        return ChildProcess(node.name, [sys.executable, "-u", "-m", "edge.run"], env, policy,
                            self.printer, log=self.log, clock=self.clock, guardian=self._guardian,
                            popen=popen)

    def _graph_env(self) -> dict:
        """The environment every node shares."""
        env = interpreter_env(self.graph.base_dir, os.environ)
        env.update({CONTROL_ENV_VAR: self._control.for_nodes,
                    "EDGE_RUNTIME_DIR": str(runtime_dir())})
        return env

    def _env(self, name: str) -> dict:
        node = self.graph.node(name)
        parameters = {**node.parameters, **self._calls.overrides(name)}
        node_type = self.types[name]  # the class itself, so the child skips the entry-point scan
        type_name = str(node_type) if isinstance(node_type, Path) else \
            f"{node_type.__module__}:{node_type.__qualname__}"
        env = self._graph_env()
        env[ENV_VAR] = self._wiring.config(node, parameters, type_name).to_json()
        env.update(node.env)
        return env

    def _start_all(self) -> None:
        self.log(f"launching graph {self.graph.name!r}: {len(self._children)} node(s), "
                 f"control {' and '.join(self._control.endpoints)}")
        for child in self._children:
            child.start()
        if self.duration_s is not None:
            reason = f"--duration {self.duration_s:g} s is up"
            self._waiters.add(lambda: False, lambda: None, timeout_s=self.duration_s,
                              on_timeout=lambda: self.shutdown(reason))

    # -- the loop ----------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            self._children.tick()
            self._reap_orphans()
            self._waiters.check()
            self._check_ready()
            if self._stop_requested is not None and not self.stopping:
                self._begin_shutdown()
            if self._finished():
                return
            self._watch()
            for item, _ in self._poller.poll(self._poll_timeout_ms()):
                handler = self._polled.get(item)
                if handler is not None:
                    handler()

    def _reap_orphans(self) -> None:
        if self._forks is not None:  # the supervisor is a subreaper only with a fork server
            self._forks.check()
            reap_orphans([c.pid for c in self._children if isinstance(c, ChildProcess)]
                         + [self._guardian.pid, self._forks.pid])

    def _watch(self) -> None:
        """Keep the one poller in step with what there is to wait on (fds come and go)."""
        wanted: dict = {
            item: self._control.service.process for item, _ in self._control.service.poll_items()}
        wanted[self._signals.wake_fd] = self._signals.clear
        wanted.update(self._children.event_sources())
        for item in self._polled.keys() - wanted.keys():
            self._poller.unregister(item)
        for item in wanted.keys() - self._polled.keys():
            self._poller.register(item, zmq.POLLIN)
        self._polled = wanted

    def _poll_timeout_ms(self) -> int:
        deadlines = [self._children.next_deadline(self.clock()), self._waiters.next_deadline(),
                     self._hard_deadline]
        if not self._all_ready_logged:
            deadlines.append(self.started_at + self.ready_timeout_s)
        due = min((d for d in deadlines if d is not None), default=None)
        wait_s = IDLE_WAKE_S if due is None else min(IDLE_WAKE_S, max(0.0, due - self.clock()))
        return max(1, int(wait_s * 1000))

    def _check_ready(self) -> None:
        if self._all_ready_logged or self.stopping:
            return
        children = self._children
        waiting = [c.name for c in children.in_states("starting", "backoff")]
        if not waiting:
            self._all_ready_logged = True
            down = [f"{c.name} ({c.state})" for c in children if c.state != "running"]
            if down:
                self.log(f"{len(children) - len(down)} of {len(children)} node(s) ready "
                         f"in {self.uptime_s:.2f} s; not running: {', '.join(down)}")
            else:
                self.log(f"all {len(children)} node(s) ready in {self.uptime_s:.2f} s")
        elif not self._ready_timeout_logged and self.uptime_s > self.ready_timeout_s:
            self._ready_timeout_logged = True
            self.log(f"still waiting after {self.ready_timeout_s:g} s for the ready handshake of: "
                     f"{', '.join(waiting)} (a node is ready once it iterates its events)")

    def _finished(self) -> bool:
        if self.stopping:
            alive = self._children.alive()
            if alive and self.clock() >= self._hard_deadline:
                self.log(f"giving up on {', '.join(c.name for c in alive)}: SIGKILL")
                self._children.kill_all()
                alive = []
            if not alive:
                self.log(f"stopped in {self.clock() - self._stop_started:.2f} s")
            return not alive
        settled = len(self._children.in_states("exited", "failed")) == len(self._children)
        if settled:
            failed = [c.name for c in self._children.in_states("failed")]
            self._exit_code = 1 if failed else 0
            self.log("every node has finished"
                     + (f"; failed: {', '.join(failed)}" if failed else ""))
        return settled

    # -- stopping ----------------------------------------------------------------------------------
    def _on_signal(self, signum: Optional[int]) -> None:
        name = signal.Signals(signum).name if signum else "stop"
        self.shutdown(f"{name} received", EXIT_CODES.get(signum, 1))

    def _begin_shutdown(self) -> None:
        code, reason = self._stop_requested
        self.stopping, self._exit_code = True, code
        self._stop_started = self.clock()
        self._hard_deadline = self._stop_started + self.grace_s + 3.0
        live = self._children.stop_all(self.grace_s)
        self.log(f"{reason}: stopping {live} node(s) (grace {self.grace_s:g} s)")

    def _cleanup(self) -> None:
        if self._children.alive():
            self._children.kill_all()  # only after an error: reap, so nothing is left behind
        self._waiters.cancel_all()
        self._workers.close()
        if self._remote is not None:
            self._remote.close()
        if self._forks is not None and self._own_forks:
            self._forks.close()
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._guardian is not None:
            self._guardian.close()
        if self._launch_dir is not None:
            shutil.rmtree(self._launch_dir, ignore_errors=True)

