"""`edge launch`: run a checked graph, one process per node, until told to stop.

One thread does everything that touches a socket or a child: it polls the control
socket, the children's output pipes and the signal pipe with a deadline, reaps exits,
restarts with backoff and escalates stops. Control commands that must wait on a node
run on worker threads and hand results back through `post`.
"""
from __future__ import annotations

import os
import queue
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import zmq

from edge.config import CONTROL_ENV_VAR, ENV_VAR
from edge.launch.commands import serve as serve_commands
from edge.launch.endpoint import ControlEndpoint, bind as bind_control
from edge.endpoints import runtime_dir
from edge.errors import FailedPrecondition
from edge.launch.graph import Graph
from edge.launch.hosts import place_on_hosts
from edge.launch.remote import Remote, share_host_keys
from edge.launch.process import LIVE_STATES, ChildProcess, OutputPrinter
from edge.launch.restart import RestartPolicy
from edge.signals import StopSignals
from edge.launch.topicstats import TopicRates
from edge.launch.wiring import Wiring, launch_directory, plan

MAX_POLL_S = 0.05          # exits are noticed at least this often
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Supervisor:
    def __init__(self, graph: Graph, types: dict, *, control_endpoint: Optional[str] = None,
                 grace_s: float = 5.0, ready_timeout_s: float = 15.0,
                 duration_s: Optional[float] = None, printer: Optional[OutputPrinter] = None,
                 restart_base_s: float = 0.2, restart_cap_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.graph, self.types = graph, types
        self.grace_s, self.ready_timeout_s, self.duration_s = grace_s, ready_timeout_s, duration_s
        self.printer = printer or OutputPrinter()
        self.printer.add("edge")
        self.clock = clock
        self._control_arg = control_endpoint
        self._restart = dict(base_s=restart_base_s, cap_s=restart_cap_s)
        self.children: dict[str, ChildProcess] = {}
        self.topic_rates = TopicRates()
        self.wiring: Optional[Wiring] = None
        self.control: Optional[ControlEndpoint] = None
        self.remote: Optional[Remote] = None   # nodes on other machines, through their agents
        self.started_at = clock()
        self.stopping = False
        self._exit_code: Optional[int] = None
        self._stop_requested: Optional[tuple[int, str]] = None
        self._launch_dir: Optional[Path] = None
        self._overrides: dict[str, dict] = {}
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._waiters: list = []
        self._all_ready_logged = False
        self._ready_timeout_logged = False
        self._hard_deadline: Optional[float] = None
        self._stop_started = 0.0

    # -- public ------------------------------------------------------------------------------
    def run(self) -> int:
        """Run until stopped; the exit code: 0, 1 (a node failed), 130 (SIGINT), 143 (SIGTERM)."""
        signals = StopSignals(self._on_signal)
        try:
            self._prepare()
            self._start_all()
            self._loop(signals)
            return self._exit_code if self._exit_code is not None else 0
        except KeyboardInterrupt:  # a second Ctrl-C: no more grace
            self.log("interrupted again: killing every node now")
            self._kill_all()
            return 130
        finally:
            self._cleanup()
            signals.close()

    def log(self, text: str) -> None:
        self.printer.line("edge", text)

    @property
    def uptime_s(self) -> float:
        return self.clock() - self.started_at

    # -- used by control commands (on the loop thread) ---------------------------------------
    def post(self, action: Callable[[], None]) -> None:
        """Run `action` on the loop thread (from any thread)."""
        self._inbox.put(action)

    def run_posted(self) -> None:
        while True:
            try:
                action = self._inbox.get_nowait()
            except queue.Empty:
                return
            action()

    def when(self, done: Callable[[], bool], then: Callable[[], None], *, timeout_s: float,
             on_timeout: Callable[[], None]) -> None:
        self._waiters.append((done, then, self.clock() + timeout_s, on_timeout))

    def node_ready(self, child: ChildProcess, body: dict) -> None:
        if child.mark_ready(body):
            took = child.ready_at - child.started_at
            again = " again" if child.restarts else ""
            self.log(f"node {child.name!r} ready{again} (pid {body.get('pid')}) in {took:.2f} s")

    def set_override(self, name: str, key: str, value) -> None:
        """A live parameter change, kept for the node's next start."""
        self._overrides.setdefault(name, {})[key] = value
        self.children[name].env = self._env(name)

    def live_services(self) -> dict:
        return {name: self.wiring.services[name] for name, child in self.children.items()
                if child.state in ("starting", "running")}

    def refuse_while_stopping(self) -> None:
        if self.stopping:
            raise FailedPrecondition(f"graph {self.graph.name!r} is shutting down")

    def request_shutdown(self, code: int, reason: str) -> None:
        if self._stop_requested is None:
            self._stop_requested = (code, reason)

    # -- starting ----------------------------------------------------------------------------
    def _prepare(self) -> None:
        self._launch_dir = launch_directory(runtime_dir())
        share_host_keys(self.graph)  # before the first bind: the ZAP handler reads them once
        self.control = bind_control(self._control_arg, self.graph.name, self.log)
        serve_commands(self, self.control.service)
        self.wiring = plan(self.graph, self._launch_dir, self.control.for_nodes)
        place_on_hosts(self.wiring, self.graph)
        self.remote = Remote(self.graph, self.control.service.endpoint, self.log)
        for node in self.graph.nodes:
            argv = [sys.executable, "-u"]
            argv += [str(self.types[node.name])] if isinstance(self.types[node.name], Path) \
                else ["-m", "edge.run"]
            policy = RestartPolicy(node.restart, node.max_restarts, **self._restart)
            if self.remote.runs(node):
                self.children[node.name] = self.remote.child(node, self._env(node.name), policy,
                                                             self.printer, self.clock)
                continue
            self.children[node.name] = ChildProcess(node.name, argv, self._env(node.name), policy,
                                                    self.printer, log=self.log, clock=self.clock)
        self.remote.start()

    def _env(self, name: str) -> dict:
        node = self.graph.node(name)
        parameters = {**node.parameters, **self._overrides.get(name, {})}
        env = dict(os.environ)
        path = [str(self.graph.base_dir.resolve())] + \
            [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        node_type = self.types[name]  # the class itself, so the child skips the entry-point scan
        type_name = None if isinstance(node_type, Path) else \
            f"{node_type.__module__}:{node_type.__qualname__}"
        env.update({ENV_VAR: self.wiring.config(node, parameters, type_name).to_json(),
                    CONTROL_ENV_VAR: self.control.for_nodes, "EDGE_RUNTIME_DIR": str(runtime_dir()),
                    "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(path)})
        env.update(node.env)
        return env

    def _start_all(self) -> None:
        self.log(f"launching graph {self.graph.name!r}: {len(self.children)} node(s), "
                 f"control {' and '.join(self.control.endpoints)}")
        for child in self.children.values():
            child.start()
        if self.duration_s is not None:
            reason = f"--duration {self.duration_s:g} s is up"
            self.when(lambda: False, lambda: None, timeout_s=self.duration_s,
                      on_timeout=lambda: self.request_shutdown(0, reason))

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self, signals: StopSignals) -> None:
        service = self.control.service
        service_items = {item for item, _ in service.poll_items()}
        while True:
            self.run_posted()
            for child in self.children.values():
                child.tick()
            self._check_waiters()
            self._check_ready()
            if self._stop_requested is not None and not self.stopping:
                self._begin_shutdown()
            if self._finished():
                return
            poller = zmq.Poller()
            for item, flags in service.poll_items():
                poller.register(item, flags)
            poller.register(signals.wake_fd, zmq.POLLIN)
            outputs = {c.output_fd: c for c in self.children.values() if c.output_fd is not None}
            for fd in outputs:
                poller.register(fd, zmq.POLLIN)
            for item, _ in poller.poll(self._poll_timeout_ms()):
                if item in service_items:
                    service.process()
                elif item == signals.wake_fd:
                    signals.clear()
                elif item in outputs:
                    outputs[item].read_output()

    def _poll_timeout_ms(self) -> int:
        deadlines = [c.next_deadline() for c in self.children.values()]
        deadlines += [w[2] for w in self._waiters]
        due = min((d for d in deadlines if d is not None), default=None)
        wait_s = MAX_POLL_S if due is None else min(MAX_POLL_S, max(0.0, due - self.clock()))
        return max(1, int(wait_s * 1000))

    def _check_waiters(self) -> None:
        now, keep = self.clock(), []
        for waiter in self._waiters:
            done, then, deadline, on_timeout = waiter
            if done():
                then()
            elif now >= deadline:
                on_timeout()
            else:
                keep.append(waiter)
        self._waiters = keep

    def _check_ready(self) -> None:
        if self._all_ready_logged or self.stopping:
            return
        waiting = [c.name for c in self.children.values() if c.state in ("starting", "backoff")]
        if not waiting:
            self._all_ready_logged = True
            down = [f"{c.name} ({c.state})" for c in self.children.values() if c.state != "running"]
            if down:
                self.log(f"{len(self.children) - len(down)} of {len(self.children)} node(s) ready "
                         f"in {self.uptime_s:.2f} s; not running: {', '.join(down)}")
            else:
                self.log(f"all {len(self.children)} node(s) ready in {self.uptime_s:.2f} s")
        elif waiting and not self._ready_timeout_logged and self.uptime_s > self.ready_timeout_s:
            self._ready_timeout_logged = True
            self.log(f"still waiting after {self.ready_timeout_s:g} s for the ready handshake of: "
                     f"{', '.join(waiting)} (a node is ready once it iterates its events)")

    def _finished(self) -> bool:
        if self.stopping:
            alive = [c for c in self.children.values() if c.alive]
            if alive and self.clock() >= self._hard_deadline:
                self.log(f"giving up on {', '.join(c.name for c in alive)}: SIGKILL")
                self._kill_all()
                alive = []
            if not alive:
                self.log(f"stopped in {self.clock() - self._stop_started:.2f} s")
            return not alive
        settled = all(c.state in ("exited", "failed") for c in self.children.values())
        if settled:
            failed = [c.name for c in self.children.values() if c.state == "failed"]
            self._exit_code = 1 if failed else 0
            self.log("every node has finished"
                     + (f"; failed: {', '.join(failed)}" if failed else ""))
        return settled

    # -- stopping ----------------------------------------------------------------------------
    def _on_signal(self, signum: Optional[int]) -> None:
        name = signal.Signals(signum).name if signum else "stop"
        self.request_shutdown(EXIT_CODES.get(signum, 1), f"{name} received")

    def _begin_shutdown(self) -> None:
        code, reason = self._stop_requested
        self.stopping, self._exit_code = True, code
        self._stop_started = self.clock()
        self._hard_deadline = self._stop_started + self.grace_s + 3.0
        live = [c for c in self.children.values() if c.state in LIVE_STATES or c.state == "backoff"]
        self.log(f"{reason}: stopping {len(live)} node(s) (grace {self.grace_s:g} s)")
        for child in self.children.values():
            child.stop(self.grace_s)

    def _kill_all(self) -> None:
        for child in self.children.values():
            child.kill()
        deadline = time.monotonic() + 2.0
        for child in self.children.values():
            while child.alive and time.monotonic() < deadline:
                child.tick()
                time.sleep(0.01)

    def _cleanup(self) -> None:
        if any(child.alive for child in self.children.values()):
            self._kill_all()  # only after an error: reap, so nothing is left behind
        for done, then, deadline, on_timeout in self._waiters:
            on_timeout()
        self._waiters = []
        if self.remote is not None:
            self.remote.close()
        if self.control is not None:
            self.control.close()
            self.control = None
        if self._launch_dir is not None:
            shutil.rmtree(self._launch_dir, ignore_errors=True)
