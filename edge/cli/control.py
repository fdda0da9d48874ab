"""`edge nodes`, `edge node`, `edge param`, `edge shutdown`, `edge topic list`: a running launch.

Each finds the local launch by default (its ipc control socket) and takes --control
for a remote one (`--endpoint`/`-e`, its old name, still works in this release).
"""
from __future__ import annotations

import functools
import json

import click
import yaml

from edge.cli.output import print_value
from edge.errors import InvalidArgument
from edge.launch.control import ControlClient
from edge.nodetype import plain_value_problem


def control_option(command):
    """--control ENDPOINT (old name: --endpoint / -e), passed on as `control`."""
    @click.option("--control", "-c", metavar="ENDPOINT",
                  help="control endpoint of the launch (default: the local one)")
    @click.option("--endpoint", "-e", "old_endpoint", metavar="ENDPOINT", hidden=True)
    @functools.wraps(command)
    def wrapper(*args, control: str | None, old_endpoint: str | None, **kwargs):
        if old_endpoint is not None:
            click.echo("note: --endpoint/-e is now --control/-c; the old name goes away in "
                       "the next release", err=True)
        return command(*args, control=control or old_endpoint, **kwargs)
    return wrapper


json_option = click.option("--json", "as_json", is_flag=True, help="print the raw reply as JSON")


def _table(rows: list, columns: list) -> None:
    """Plain aligned columns; `columns` holds (title, key, format)."""
    cells = [[title for title, _, _ in columns]]
    for row in rows:
        cells.append([fmt(row.get(key)) for _, key, fmt in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def _text(value) -> str:
    return "-" if value is None else str(value)


def _seconds(value) -> str:
    return "-" if not value else f"{value:.1f}s"


@click.command()
@control_option
@json_option
def nodes(control: str | None, as_json: bool) -> None:
    """List the nodes of the running launch: state, host, pid, restarts, uptime."""
    with ControlClient(control) as graph:
        rows = graph.nodes()
    if as_json:
        print_value(rows)
        return
    _table(rows, [("NAME", "name", _text), ("STATE", "state", _text), ("HOST", "host", _text),
                  ("PID", "pid", _text),
                  ("RESTARTS", "restarts", _text), ("UPTIME", "uptime_s", _seconds),
                  ("EXIT", "exit_code", _text), ("TYPE", "type", _text)])


@click.command("list")
@control_option
@json_option
def topic_list(control: str | None, as_json: bool) -> None:
    """List the topics of the running launch: publisher, endpoint, rate, drops."""
    with ControlClient(control) as graph:
        rows = graph.topics()
    if as_json:
        print_value(rows)
        return
    for row in rows:
        row["publisher"] = row["publisher"] or "(external)"
        row["subscribers"] = ", ".join(row["subscribers"]) or "-"
    _table(rows, [("TOPIC", "topic", _text), ("PUBLISHER", "publisher", _text),
                  ("RATE", "rate_hz", lambda v: "-" if v is None else f"{v:.1f}/s"),
                  ("DROPPED", "dropped", _text), ("ERRORS", "errors", _text),
                  ("SUBSCRIBERS", "subscribers", _text),
                  ("ENDPOINT", "endpoint", _text)])


@click.group()
def node() -> None:
    """Stop, start or restart one node of the running launch."""


def _node_command(action: str, verb: str):
    @node.command(action, help=f"{action.capitalize()} NODE; waits until it is {verb}.")
    @click.argument("node_name", metavar="NODE")
    @control_option
    def run(node_name: str, control: str | None) -> None:
        with ControlClient(control) as graph:
            reply = getattr(graph, action)(node_name)
        pid = f" (pid {reply['pid']})" if reply.get("pid") else ""
        late = "; still settling, see `edge nodes`" if reply.get("timed_out") else ""
        click.echo(f"{verb} {node_name}: {reply['state']}{pid}{late}")
    return run


_node_command("stop", "stopped")
_node_command("start", "started")
_node_command("restart", "restarted")


@click.group()
def param() -> None:
    """Read or change node parameters of the running launch."""


@param.command("get")
@click.argument("node_name", metavar="NODE")
@click.argument("key", required=False)
@control_option
def param_get(node_name: str, key: str | None, control: str | None) -> None:
    """Print parameter KEY of NODE, or all its parameters."""
    with ControlClient(control) as graph:
        print_value(graph.param_get(node_name, key))


@param.command("set")
@click.argument("node_name", metavar="NODE")
@click.argument("key")
@click.argument("value")
@control_option
def param_set(node_name: str, key: str, value: str, control: str | None) -> None:
    """Set parameter KEY of NODE to VALUE (a YAML scalar: 15, 0.5, true, text, [1, 2])."""
    parsed = parse_value(value)
    why = plain_value_problem(parsed)
    if why:
        raise InvalidArgument(f"parameter {key!r}: {why} (VALUE was {value!r})")
    with ControlClient(control) as graph:
        reply = graph.param_set(node_name, key, parsed)
    click.echo(f"{node_name}.{reply['key']} = {json.dumps(reply['value'], default=str)}")


@click.command()
@click.argument("node_name", metavar="[NODE]", required=False)
@control_option
def stats(node_name: str | None, control: str | None) -> None:
    """Print the stats of NODE, or of every node of the running launch."""
    with ControlClient(control) as graph:
        print_value(graph.stats(node_name))


@click.command()
@control_option
def shutdown(control: str | None) -> None:
    """Stop every node of the running launch and end it."""
    with ControlClient(control) as graph:
        reply = graph.shutdown()
    click.echo(f"stopping graph {reply['graph']!r} ({reply['nodes']} node(s))")


def parse_value(text: str):
    """VALUE as YAML (15, 0.5, true, [1, 2]); text that is not YAML stays text."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text
