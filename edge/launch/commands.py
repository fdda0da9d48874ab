"""The control endpoint's command table: one small function per command.

Each command's docstring is its reference text: the first line is what `help` shows,
the rest says what the reply holds, and docs/CONTROL.md's table is made from them
(`python -m edge.launch.commands`), so the CLI, the wire and the docs cannot drift.
A command gets the supervisor, through the small `ControlSurface` below and nothing
else, and its request body, already checked against the fields it declares. It
returns the reply body, or a Future of it when the answer has to wait (a node
settling, a node's own service answering).
"""
from __future__ import annotations

import os
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

from edge.errors import InvalidArgument, NotFound, Unavailable
from edge.service import Request, Service
from messages.codec import short

ALIASES = {"name": "node"}  # old body keys, accepted for one release


class ControlSurface(Protocol):
    """All a command may ask of the supervisor."""

    graph: Any          # edge.launch.graph.Graph, as loaded (read only)
    stopping: bool
    uptime_s: float

    def node_names(self) -> list[str]: ...
    def describe(self, name: str) -> dict: ...
    def resolve(self, topic: str) -> dict: ...
    def node_ready(self, name: str, pid: int, endpoints: dict, service: Optional[str]) -> None: ...
    def start(self, name: str) -> Future: ...
    def stop(self, name: str) -> Future: ...
    def restart(self, name: str) -> Future: ...
    def param_get(self, name: str, key: Optional[str]) -> Future: ...
    def param_set(self, name: str, key: str, value: Any) -> Future: ...
    def stats(self, name: Optional[str]) -> Future: ...
    def topics(self) -> Future: ...
    def shutdown(self, reason: str) -> None: ...


@dataclass(frozen=True)
class Command:
    name: str
    run: Callable[[ControlSurface, dict], Any]
    fields: dict        # body key -> type; a key ending in "?" is optional

    @property
    def summary(self) -> str:
        return (self.run.__doc__ or "").strip().splitlines()[0]

    @property
    def reference(self) -> str:
        lines = (self.run.__doc__ or "").strip().splitlines()
        return " ".join(line.strip() for line in lines[1:] if line.strip())

    @property
    def body_text(self) -> str:
        return "{" + ", ".join(self.fields) + "}" if self.fields else "–"


COMMANDS: dict[str, Command] = {}


def command(name: str, **fields: type | tuple):
    """Register a command; `fields` declares its body's keys and types (`key_opt`: optional)."""
    def register(run):
        COMMANDS[name] = Command(name, run, {key[:-4] + "?" if key.endswith("_opt") else key: kind
                                             for key, kind in fields.items()})
        return run
    return register


# what a `read` key may ask (edge.security); every other command needs an admin key
READ_COMMANDS = frozenset({"ping", "methods", "help", "graph", "nodes", "topics", "resolve",
                           "stats", "param.get"})


def serve(surface: ControlSurface, service: Service) -> None:
    """Install every command of the table on `service`."""
    for cmd in COMMANDS.values():
        service.add(cmd.name, _handler(surface, cmd),
                    role="read" if cmd.name in READ_COMMANDS else "admin")


def _handler(surface: ControlSurface, cmd: Command):
    def handle(request: Request):
        result = cmd.run(surface, checked_body(cmd, request.body))
        if isinstance(result, Future):
            _reply_when_done(request, result)
            return None
        return result
    return handle


def _reply_when_done(request: Request, future: Future) -> None:
    responder = request.defer()

    def done(finished: Future) -> None:
        if finished.cancelled():  # the pool was shut down: the launch is ending
            responder.fail(Unavailable(f"{request.method}: the launch is shutting down"))
            return
        error = finished.exception()
        if error is not None:
            responder.fail(error)
        else:
            responder.reply(finished.result())
    future.add_done_callback(done)


def checked_body(cmd: Command, body: Any) -> dict:
    """The request body as a map of the command's fields, or InvalidArgument."""
    usage = f"{cmd.name} takes {cmd.body_text} as its body" if cmd.fields else \
        f"{cmd.name} takes no body"
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidArgument(f"{usage}, got {type(body).__name__} {short(body)}")
    for old, new in ALIASES.items():
        if old in body and new in _keys(cmd) and new not in body:
            body = {**body, new: body[old]}
            del body[old]
    unknown = [k for k in body if k not in _keys(cmd)]
    if unknown:
        raise InvalidArgument(f"{usage}; unknown key(s): {', '.join(map(short, unknown))}")
    checked = {}
    for field, kind in cmd.fields.items():
        key, optional = field.rstrip("?"), field.endswith("?")
        value = body.get(key)
        if value is None and optional:
            checked[key] = None
        elif key not in body or (kind is not object and not _is(value, kind)):
            raise InvalidArgument(f"{usage}; {key!r} must be {_kind_text(kind)}, got "
                                  f"{short(value) if key in body else 'nothing'}")
        else:
            checked[key] = value
    return checked


def _keys(cmd: Command) -> set:
    return {field.rstrip("?") for field in cmd.fields}


def _is(value: Any, kind) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)


def _kind_text(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", dict: "a map", type(None): "nil"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


# -- the graph ---------------------------------------------------------------------------------
@command("ping")
def ping(sup: ControlSurface, body: dict) -> dict:
    """Liveness of the launch.

    Reply: `{graph, pid, time_ns, uptime_s, nodes, stopping}`.
    """
    return {"graph": sup.graph.name, "pid": os.getpid(), "time_ns": time.time_ns(),
            "uptime_s": round(sup.uptime_s, 3), "nodes": len(sup.node_names()),
            "stopping": sup.stopping}


@command("methods")
def methods(sup: ControlSurface, body: dict) -> list:
    """The names of all commands.

    Reply: `[command names]`.
    """
    return sorted(COMMANDS)


@command("help", command_opt=str)
def help_(sup: ControlSurface, body: dict) -> Any:
    """Each command with its one-line description, or one command's reference text.

    Reply: `{command: description}`; given `command`: `{command, body, summary, reply}`.
    """
    if body["command"] is None:
        return {name: cmd.summary for name, cmd in sorted(COMMANDS.items())}
    cmd = COMMANDS.get(body["command"])
    if cmd is None:
        raise NotFound(f"no command {body['command']!r} (see 'methods')")
    return {"command": cmd.name, "body": cmd.body_text, "summary": cmd.summary,
            "reply": cmd.reference}


@command("graph")
def graph(sup: ControlSurface, body: dict) -> dict:
    """The launch file as loaded: its nodes, their types and wiring.

    Reply: `{name, file, external: [topic], nodes: [{name, type, parameters,
    inputs: {local: topic}, outputs: {local: topic}, restart}]}`.
    """
    g = sup.graph
    return {"name": g.name, "file": str(g.path.resolve()), "external": list(g.external),
            "nodes": [{"name": n.name, "type": n.type, "parameters": n.parameters,
                       "inputs": {k: v.topic for k, v in n.inputs.items()},
                       "outputs": dict(n.outputs), "restart": n.restart} for n in g.nodes]}


@command("nodes")
def nodes(sup: ControlSurface, body: dict) -> list:
    """Every node: its state, host, pid, restarts, uptime and endpoints.

    Reply: `[Node]`.
    """
    return [sup.describe(name) for name in sup.node_names()]


@command("topics")
def topics(sup: ControlSurface, body: dict) -> Future:
    """Every topic: its publisher, endpoint, subscribers, rate, drops and bad messages.

    Reply: `[{topic, publisher, endpoint, external, subscribers: ["node.input"], rate_hz,
    published, dropped, errors}]` (errors: messages subscribers could not decode or handle).
    """
    return sup.topics()


@command("resolve", topic=str)
def resolve(sup: ControlSurface, body: dict) -> dict:
    """Where a topic is published.

    Reply: `{topic, endpoint, external, publisher}`; `NOT_FOUND` if the graph has no such topic.
    """
    return sup.resolve(body["topic"])


@command("shutdown")
def shutdown(sup: ControlSurface, body: dict) -> dict:
    """Stop every node and end the launch (exit code 0).

    Reply: `{stopping: true, graph, nodes}`, sent before the nodes are stopped.
    """
    sup.shutdown("shutdown requested over the control endpoint")
    return {"stopping": True, "graph": sup.graph.name, "nodes": len(sup.node_names())}


# -- one node ----------------------------------------------------------------------------------
@command("node.stop", node=str)
def node_stop(sup: ControlSurface, body: dict) -> Future:
    """Stop a node: its stop event, SIGTERM after the grace period, then SIGKILL.

    Reply: `Node`, sent once the node has exited.
    """
    return sup.stop(body["node"])


@command("node.start", node=str)
def node_start(sup: ControlSurface, body: dict) -> Future:
    """Start a stopped, exited or failed node, with a fresh restart count.

    Reply: `Node`, sent once it is ready (or has failed); `FAILED_PRECONDITION` if it runs.
    """
    return sup.start(body["node"])


@command("node.restart", node=str)
def node_restart(sup: ControlSurface, body: dict) -> Future:
    """Stop a node (if it runs) and start it again.

    Reply: `Node` of the new process, sent once it is ready.
    """
    return sup.restart(body["node"])


@command("node.ready", node=str, pid=int, endpoints=dict, service=(str, type(None)))
def node_ready(sup: ControlSurface, body: dict) -> dict:
    """A launched node's ready handshake; sent by nodes, not by people.

    Reply: `{graph}`.
    """
    endpoints = body["endpoints"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in endpoints.items()):
        raise InvalidArgument("node.ready: endpoints must map topic names to endpoint strings")
    sup.node_ready(body["node"], body["pid"], endpoints, body["service"])
    return {"graph": sup.graph.name}


@command("param.get", node=str, key_opt=str)
def param_get(sup: ControlSurface, body: dict) -> Future:
    """A node's parameter, or all of them, asked of the node itself.

    Reply: the value of `key`, or `{key: value}` for all parameters.
    """
    return sup.param_get(body["node"], body["key"])


@command("param.set", node=str, key=str, value=object)
def param_set(sup: ControlSurface, body: dict) -> Future:
    """Set a parameter live: checked, then the node gets a param event; kept on restart.

    Reply: `{key, value}` (value as coerced by the node's schema).
    """
    return sup.param_set(body["node"], body["key"], body["value"])


@command("stats", node_opt=str)
def stats(sup: ControlSurface, body: dict) -> Future:
    """A node's stats, or every live node's plus the supervisor's.

    Reply: that node's stats; without `node`: `{graph, uptime_s, restarts: {node: n},
    nodes: {node: stats or {error}}}`.
    """
    return sup.stats(body["node"])


def markdown_table() -> str:
    """docs/CONTROL.md's command table, from the docstrings."""
    rows = ["| command | request body | what it does; reply body |", "|---|---|---|"]
    for name, cmd in sorted(COMMANDS.items()):
        body = f"`{cmd.body_text}`" if cmd.fields else "–"
        rows.append(f"| `{name}` | {body} | {cmd.summary} {cmd.reference} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
