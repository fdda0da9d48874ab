"""The `edge` command.

Sub-commands load when they are used, so `edge nodes` does not pay for the model
manager's onnxruntime: built-in ones are listed here by module, and those of other
packages plug in through the `edge.cli_commands` entry-point group.

Expected errors (an EdgeError: bad input, an unreachable peer, a refused request; or a
messages.DecodeError: bytes that will not decode) print one line and exit 1; anything
else is a bug and keeps its traceback.
"""
from __future__ import annotations

import sys
import traceback
from importlib import import_module

import click

from edge.errors import EdgeError

EXIT_BUG = 70  # EX_SOFTWARE (sysexits.h)
BUG_HINT = ("edge: this is a bug, not a problem with your input. Please report it with the "
            "traceback above and the command you ran.")
BUILTIN = {
    "bag": "edge.cli.bag:bag",
    "call": "edge.cli.call:call",
    "check": "edge.cli.launch:check",
    "foxglove": "edge.cli.foxglove:foxglove",
    "graph": "edge.cli.launch:graph",
    "launch": "edge.cli.launch:launch",
    "node": "edge.cli.control:node",
    "nodes": "edge.cli.control:nodes",
    "param": "edge.cli.control:param",
    "shutdown": "edge.cli.control:shutdown",
    "stats": "edge.cli.control:stats",
    "topic": "edge.cli.topic:topic",
}


class EdgeGroup(click.Group):
    """Loads a sub-command on first use; one line for an EdgeError, a traceback for a bug."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(BUILTIN) | {entry.name for entry in _plugins()} | set(self.commands))

    def get_command(self, ctx: click.Context, name: str):
        if name not in self.commands:
            if name in BUILTIN:
                module, _, attr = BUILTIN[name].partition(":")
                self.add_command(getattr(import_module(module), attr), name)
            else:
                for entry in _plugins():
                    if entry.name == name:
                        self.add_command(entry.load(), name)
        return self.commands.get(name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            if _is_bad_data(exc):
                click.echo(f"error: {exc}", err=True)
                sys.exit(1)
            traceback.print_exc()  # a bug: show where, and ask for a report
            click.echo(BUG_HINT, err=True)
            sys.exit(EXIT_BUG)


def _is_bad_data(exc: Exception) -> bool:
    """A DecodeError: bytes (a message, a recording) this side will not decode: bad input."""
    codec = sys.modules.get("messages.codec")  # loaded if one was raised; not imported here
    return codec is not None and isinstance(exc, codec.DecodeError)


def _plugins():
    from importlib.metadata import entry_points  # 0.1-0.3 s: only for a plugin or a listing

    return entry_points(group="edge.cli_commands")


@click.group(cls=EdgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edge-runtime")
def main() -> None:
    """A ZeroMQ edge runtime: nodes, topics, services and models."""
