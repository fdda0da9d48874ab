"""The `edge` command. Sub-commands of other packages plug in through the
`edge.cli_commands` entry-point group, so this package never imports them."""
from __future__ import annotations

import sys
from importlib.metadata import entry_points

import click

from edge.errors import EdgeError


class EdgeGroup(click.Group):
    """Turns every EdgeError into one line on stderr and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except (OSError, ValueError, LookupError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=EdgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edge-runtime")
def main() -> None:
    """A ZeroMQ edge runtime: nodes, topics, services and models."""


def _register_builtin() -> None:
    from edge.cli import bag, call, control, foxglove, launch, topic

    main.add_command(bag.bag)
    main.add_command(call.call)
    main.add_command(foxglove.foxglove)
    main.add_command(topic.topic)
    topic.topic.add_command(control.topic_list)
    for command in (launch.check, launch.graph, launch.launch, control.nodes, control.node,
                    control.param, control.stats, control.shutdown):
        main.add_command(command)


def _register_plugins() -> None:
    for entry in entry_points(group="edge.cli_commands"):
        main.add_command(entry.load(), entry.name)


_register_builtin()
_register_plugins()
