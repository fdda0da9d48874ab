"""`edge topic echo|hz TOPIC`: watch a topic from the shell."""
from __future__ import annotations

import time

import click

from edge.cli.control import topic_list
from edge.cli.output import summarise
from edge.node import Node


@click.group()
def topic() -> None:
    """Inspect topics."""


topic.add_command(topic_list)


def _watch(name: str, endpoint: str | None, duration_s: float | None):
    node = Node(f"edge-cli-{name.replace('/', '_')}")
    node.subscribe(name, endpoint=endpoint, queue_size=1000)
    stop_at = None if duration_s is None else time.monotonic() + duration_s
    try:
        while stop_at is None or time.monotonic() < stop_at:
            event = node.next_event(timeout_s=0.5 if stop_at is None else max(0.0, stop_at - time.monotonic()))
            if event is None:
                continue
            if event.kind == "stop":
                return
            yield event
    finally:
        node.close()


@topic.command()
@click.argument("name")
@click.option("--endpoint", help="publisher endpoint (default: ask the running graph)")
@click.option("--count", "-n", type=int, help="stop after N messages")
@click.option("--duration", "duration_s", type=float, help="stop after S seconds")
def echo(name: str, endpoint: str | None, count: int | None, duration_s: float | None) -> None:
    """Print messages on topic NAME."""
    for index, event in enumerate(_watch(name, endpoint, duration_s), start=1):
        latency_ms = (time.time_ns() - event.stamp_ns) / 1e6
        click.echo(f"[{event.seq}] from {event.source} age {latency_ms:.2f} ms "
                   f"dropped {event.dropped}: {summarise(event.value)}")
        if count and index >= count:
            return


@topic.command()
@click.argument("name")
@click.option("--endpoint", help="publisher endpoint (default: ask the running graph)")
@click.option("--duration", "duration_s", type=float, default=5.0, show_default=True)
def hz(name: str, endpoint: str | None, duration_s: float) -> None:
    """Measure the rate and drops of topic NAME."""
    stamps, dropped = [], 0
    for event in _watch(name, endpoint, duration_s):
        stamps.append(time.monotonic())
        dropped += event.dropped
    if len(stamps) < 2:
        raise click.ClickException(f"fewer than 2 messages on {name!r} in {duration_s:.1f}s")
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    click.echo(f"{name}: {rate:.1f} msg/s over {len(stamps)} messages, {dropped} dropped")
