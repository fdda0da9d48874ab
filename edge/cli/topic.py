"""`edge topic echo|hz TOPIC`: watch a topic from the shell."""
from __future__ import annotations

import time
from typing import Callable

import click

from edge.cli.output import summarise
from edge.node import Node

QUIET_NOTICE_S = 1.0  # echo says it is waiting after this long without a message


@click.group()
def topic() -> None:
    """Inspect topics."""


def _watch(name: str, endpoint: str | None, duration_s: float | None,
           on_quiet: Callable[[str, float], None] | None = None):
    """Events of topic NAME; `on_quiet(endpoint, quiet_s)` runs while none arrive."""
    node = Node(f"edge-cli-{name.replace('/', '_')}")
    source = node.subscribe(name, endpoint=endpoint, queue_size=1000)
    stop_at = None if duration_s is None else time.monotonic() + duration_s
    last = time.monotonic()
    try:
        while stop_at is None or time.monotonic() < stop_at:
            wait_s = 0.2 if stop_at is None else min(0.2, max(0.0, stop_at - time.monotonic()))
            event = node.next_event(timeout_s=wait_s)
            if event is None:
                if on_quiet is not None:
                    on_quiet(source.endpoint, time.monotonic() - last)
                continue
            last = time.monotonic()
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
@click.option("--timeout", "timeout_s", type=float,
              help="fail when no message arrives for S seconds [default: wait, saying so]")
def echo(name: str, endpoint: str | None, count: int | None, duration_s: float | None,
         timeout_s: float | None) -> None:
    """Print messages on topic NAME."""
    told = []

    def on_quiet(bound: str, quiet_s: float) -> None:
        if timeout_s is not None and quiet_s >= timeout_s:
            raise click.ClickException(f"no message on {name!r} from {bound} for "
                                       f"{timeout_s:g}s; is anything publishing it?")
        if quiet_s >= QUIET_NOTICE_S and not told:
            told.append(True)
            click.echo(f"no message on {name!r} from {bound} yet; waiting (Ctrl-C to stop, "
                       "--timeout S to give up)", err=True)

    for index, event in enumerate(_watch(name, endpoint, duration_s, on_quiet), start=1):
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
