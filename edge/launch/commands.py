"""The supervisor's control endpoint: a table of commands, one small function each.

Every command takes (supervisor, request) and returns the reply body or raises an
EdgeError; the same table serves the `edge` CLI, edge.launch.control and any REQ
socket (docs/CONTROL.md). Commands run on the supervisor's loop thread, so they may
touch its state; anything slow (asking a node's own service) runs on a worker thread
and answers through `request.defer()`.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from edge.client import Client
from edge.errors import (EdgeError, FailedPrecondition, InvalidArgument, NotFound, ServiceTimeout,
                         Unavailable)
from edge.service import Request, Service
from edge.launch.hosts import server_key_of
from edge.launch.topicstats import collect_stats, topic_table

if TYPE_CHECKING:
    from edge.launch.supervisor import Supervisor

NODE_CALL_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Command:
    name: str
    run: Callable[["Supervisor", Request], Any]
    help: str


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str):
    def register(run):
        COMMANDS[name] = Command(name, run, help)
        return run
    return register


# what a `read` key may ask (edge.security); every other command needs an admin key
READ_COMMANDS = frozenset({"ping", "methods", "help", "graph", "nodes", "topics", "resolve",
                           "stats", "param.get"})


def serve(supervisor: "Supervisor", service: Service) -> None:
    """Install every command of the table on `service`."""
    for cmd in COMMANDS.values():
        service.add(cmd.name, _bound(supervisor, cmd),
                    role="read" if cmd.name in READ_COMMANDS else "admin")


def _bound(supervisor: "Supervisor", cmd: Command):
    def handle(request: Request):
        supervisor.run_posted()  # results of finished workers first (param overrides)
        return cmd.run(supervisor, request)
    return handle


# -- request bodies ---------------------------------------------------------------------------
def _field(request: Request, key: str, kind: type = str, required: bool = True) -> Any:
    body = request.body if isinstance(request.body, dict) else {}
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, kind):
        raise InvalidArgument(f"{request.method} needs {{{key}: {kind.__name__}}} in its body, "
                              f"got {request.body!r}")
    return value


def _child(supervisor: "Supervisor", request: Request, key: str = "name"):
    name = _field(request, key)
    child = supervisor.children.get(name)
    if child is None:
        known = ", ".join(supervisor.children) or "none"
        raise NotFound(f"no node {name!r} in graph {supervisor.graph.name!r} (nodes: {known})")
    return child


def _describe(supervisor: "Supervisor", child) -> dict:
    node = supervisor.graph.node(child.name)
    wiring = supervisor.wiring
    return {**child.describe(), "type": node.type, "endpoint": wiring.publishers[child.name],
            "service": wiring.services[child.name]}


# -- graph and nodes --------------------------------------------------------------------------
@command("ping", "liveness: graph name, supervisor pid, uptime")
def ping(sup: "Supervisor", request: Request) -> dict:
    return {"graph": sup.graph.name, "pid": os.getpid(), "time_ns": time.time_ns(),
            "uptime_s": round(sup.uptime_s, 3), "nodes": len(sup.children),
            "stopping": sup.stopping}


@command("methods", "the names of all commands")
def methods(sup: "Supervisor", request: Request) -> list:
    return sorted(COMMANDS)


@command("help", "each command with a one-line description")
def help_(sup: "Supervisor", request: Request) -> dict:
    return {name: cmd.help for name, cmd in sorted(COMMANDS.items())}


@command("graph", "the launch file as loaded: nodes, their types and wiring")
def graph(sup: "Supervisor", request: Request) -> dict:
    g = sup.graph
    return {"name": g.name, "file": str(g.path.resolve()), "external": list(g.external),
            "nodes": [{"name": n.name, "type": n.type, "parameters": n.parameters,
                       "inputs": {k: v.topic for k, v in n.inputs.items()},
                       "outputs": dict(n.outputs), "restart": n.restart} for n in g.nodes]}


@command("nodes", "every node: state, pid, restarts, uptime, endpoints")
def nodes(sup: "Supervisor", request: Request) -> list:
    return [_describe(sup, child) for child in sup.children.values()]


@command("topics", "every topic: publisher, endpoint, subscribers, rate_hz, dropped")
def topics(sup: "Supervisor", request: Request) -> None:
    services = sup.live_services()
    _in_worker(request, "topics", lambda: topic_table(sup.wiring.routes, services, sup.topic_rates))


@command("resolve", "{topic} -> {topic, endpoint, external, publisher}")
def resolve(sup: "Supervisor", request: Request) -> dict:
    topic = _field(request, "topic")
    route = sup.wiring.routes.get(topic)
    if route is not None:
        return {"topic": topic, "endpoint": route.endpoint, "external": route.external,
                "publisher": route.publisher, **server_key_of(sup.graph, route.publisher)}
    for child in sup.children.values():  # a script may publish topics it did not declare
        endpoint = (child.reported.get("endpoints") or {}).get(topic)
        if endpoint:
            return {"topic": topic, "endpoint": endpoint, "external": False,
                    "publisher": child.name}
    raise NotFound(f"graph {sup.graph.name!r} has no topic {topic!r}")


@command("node.ready", "a launched node's handshake: {name, pid, endpoints, service}")
def node_ready(sup: "Supervisor", request: Request) -> dict:
    child = _child(sup, request)
    sup.node_ready(child, request.body)
    return {"graph": sup.graph.name}


@command("node.stop", "{name}: stop event, grace, SIGTERM, SIGKILL; replies once it exited")
def node_stop(sup: "Supervisor", request: Request) -> None:
    child = _child(sup, request)
    sup.refuse_while_stopping()
    sup.log(f"stopping node {child.name!r} (asked over the control endpoint)")
    child.stop(sup.grace_s)
    _reply_when(sup, request, child, lambda: not child.alive)


@command("node.start", "{name}: start a stopped, exited or failed node; replies once ready")
def node_start(sup: "Supervisor", request: Request) -> None:
    child = _child(sup, request)
    sup.refuse_while_stopping()
    if child.alive:
        raise FailedPrecondition(f"node {child.name!r} is already {child.state} (pid {child.pid})")
    sup.log(f"starting node {child.name!r} (asked over the control endpoint)")
    child.start()
    _reply_when(sup, request, child, lambda: child.state != "starting")


@command("node.restart", "{name}: stop (if running) and start again; replies once ready")
def node_restart(sup: "Supervisor", request: Request) -> None:
    child = _child(sup, request)
    sup.refuse_while_stopping()
    old_pid = child.pid
    sup.log(f"restarting node {child.name!r} (asked over the control endpoint)")
    child.restart(sup.grace_s)
    _reply_when(sup, request, child, lambda: child.pid != old_pid and child.state != "starting"
                and child.state != "stopping")


def _reply_when(sup: "Supervisor", request: Request, child, done: Callable[[], bool]) -> None:
    responder = request.defer()
    sup.when(done, lambda: responder.reply(_describe(sup, child)),
             timeout_s=sup.grace_s + sup.ready_timeout_s,
             on_timeout=lambda: responder.reply({**_describe(sup, child), "timed_out": True}))


# -- parameters and stats: asked of the node's own service, on a worker thread ----------------
@command("param.get", "{node, key?}: one parameter's value, or all of them")
def param_get(sup: "Supervisor", request: Request) -> None:
    child = _child(sup, request, "node")
    key = _field(request, "key", required=False)
    _ask_node(sup, request, child, "param.get", {"key": key} if key is not None else {})


@command("param.set", "{node, key, value}: set live (the node gets a param event); kept on restart")
def param_set(sup: "Supervisor", request: Request) -> None:
    child = _child(sup, request, "node")
    key = _field(request, "key")
    if "value" not in request.body:
        raise InvalidArgument("param.set needs {node, key, value} in its body")
    value = request.body["value"]
    _ask_node(sup, request, child, "param.set", {"key": key, "value": value},
              on_ok=lambda result: sup.set_override(child.name, result["key"], result["value"]))


@command("stats", "{node?}: the node's stats, or every live node's plus the supervisor's")
def stats(sup: "Supervisor", request: Request) -> None:
    name = _field(request, "node", required=False)
    if name is not None:
        _ask_node(sup, request, _child(sup, request, "node"), "stats", None)
        return
    services = sup.live_services()
    summary = {"graph": sup.graph.name, "uptime_s": round(sup.uptime_s, 3),
               "restarts": {c.name: c.restarts for c in sup.children.values()}}
    _in_worker(request, "stats", lambda: {**summary, "nodes": collect_stats(services)})


@command("shutdown", "stop every node and exit (code 0); replies before stopping")
def shutdown(sup: "Supervisor", request: Request) -> dict:
    sup.request_shutdown(0, reason="shutdown requested over the control endpoint")
    return {"stopping": True, "graph": sup.graph.name, "nodes": len(sup.children)}


def _ask_node(sup: "Supervisor", request: Request, child, method: str, body: Any,
              on_ok: Callable[[Any], None] | None = None) -> None:
    if child.state not in ("starting", "running"):
        raise FailedPrecondition(f"node {child.name!r} is {child.state}; {method} needs it running")
    endpoint = sup.wiring.services[child.name]

    def work():
        try:
            with Client(endpoint, timeout_s=NODE_CALL_TIMEOUT_S, retries=0) as client:
                result = client.call(method, body)
        except ServiceTimeout:
            raise Unavailable(f"node {child.name!r} did not answer {method!r} within "
                              f"{NODE_CALL_TIMEOUT_S:.0f} s (is it iterating its events?)"
                              ) from None
        if on_ok is not None:
            sup.post(lambda: on_ok(result))
        return result
    _in_worker(request, f"{method}:{child.name}", work)


def _in_worker(request: Request, label: str, work: Callable[[], Any]) -> None:
    """Answer `request` with work()'s result from a thread, keeping the loop free."""
    responder = request.defer()

    def run():
        try:
            result = work()
        except EdgeError as exc:
            responder.fail(exc)
        except Exception as exc:  # reported to the caller as INTERNAL, never lost
            responder.fail(exc)
        else:
            responder.reply(result)
    threading.Thread(target=run, name=f"control-{label}", daemon=True).start()
