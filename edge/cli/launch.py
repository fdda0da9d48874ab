"""`edge check`, `edge graph` and `edge launch`: launch files from the shell."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from edge.cli.output import fail


def check_file(path: str):
    from edge.launch.validate import check_file as check  # numpy and the node types: on use
    return check(path)


def _checked(path: str):
    """The graph and its types, or every problem printed and exit code 1."""
    graph, types, problems = check_file(path)
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        click.echo(f"{path}: {len(problems)} problem(s); nothing was started", err=True)
        sys.exit(1)
    return graph, types


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def check(files: tuple) -> None:
    """Check launch FILES without starting anything; list every problem."""
    failed = 0
    for path in files:
        graph, _, problems = check_file(path)
        for problem in problems:
            click.echo(str(problem), err=True)
        if problems:
            failed += 1
            click.echo(f"{path}: {len(problems)} problem(s)", err=True)
        else:
            click.echo(f"{path}: ok (graph {graph.name!r}: {len(graph.nodes)} node(s), "
                       f"{len(graph.producers()) + len(graph.external)} topic(s))")
    if failed:
        sys.exit(1)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--mermaid", "form", flag_value="mermaid", help="print Mermaid instead of dot")
@click.option("--dot", "form", flag_value="dot", default=True, help="print Graphviz dot (default)")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="write a file instead: .png/.svg/.pdf (needs Graphviz), .dot or .mmd")
def graph(file: str, form: str, output: str | None) -> None:
    """Print the graph in FILE as Graphviz dot or Mermaid, or render it to a picture."""
    from edge.launch import graphviz
    from edge.launch.loader import read

    loaded, problems = read(file)
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        fail(f"{file}: {len(problems)} problem(s)")
    if output:
        try:
            click.echo(graphviz.render(loaded, Path(output)))
        except (LookupError, OSError, graphviz.RenderError) as exc:
            fail(str(exc))
    else:
        text = graphviz.to_mermaid(loaded) if form == "mermaid" else graphviz.to_dot(loaded)
        click.echo(text, nl=False)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--control", "-c", metavar="ENDPOINT",
              help="control endpoint to bind, e.g. tcp://0.0.0.0:5550 (default: local ipc)")
@click.option("--duration", "duration_s", type=float, metavar="S",
              help="stop cleanly after S seconds")
@click.option("--grace", "grace_s", type=float, default=5.0, show_default=True, metavar="S",
              help="seconds a node has to stop after its stop event before SIGTERM")
@click.option("--ready-timeout", "ready_timeout_s", type=float, default=15.0, show_default=True,
              metavar="S", help="warn about nodes not ready after S seconds")
@click.option("--color/--no-color", default=None,
              help="colour node prefixes (default: on a terminal)")
def launch(file: str, control: str | None, duration_s: float | None, grace_s: float,
           ready_timeout_s: float, color: bool | None) -> None:
    """Check FILE, start every node as its own process and supervise them.

    Ctrl-C or SIGTERM stops every node (exit code 130 or 143).
    """
    from edge.launch.forkserver import ForkServer, wanted
    # first, so its imports overlap ours and the check's (see edge/launch/forkserver.py)
    forks = ForkServer(Path(file).parent, os.environ) if wanted(os.environ) else None
    try:
        from edge.launch.process import OutputPrinter
        from edge.launch.supervisor import Supervisor

        loaded, types = _checked(file)
        supervisor = Supervisor(loaded, types, control=control, grace_s=grace_s,
                                ready_timeout_s=ready_timeout_s, duration_s=duration_s,
                                printer=OutputPrinter(color=color), fork_server=forks)
        code = supervisor.run()
    finally:
        if forks is not None:
            forks.close()
    sys.exit(code)
