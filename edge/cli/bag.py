"""`edge bag record|play|info`: keep what a graph publishes in MCAP files and play it back."""
from __future__ import annotations

import json
import sys

import click

COMPRESSIONS = ("lz4", "none", "zstd")   # edge.bag.writer's; the package loads on use
control_option = click.option("--control", "--endpoint", "control", metavar="ENDPOINT",
                              help="control endpoint of the running graph (default: the local one)")


@click.group()
def bag() -> None:
    """Record topics to MCAP files, play them back, show what they hold."""


def _status(text: str, final: bool = False) -> None:
    """A progress line that rewrites itself on a terminal, one line per update otherwise."""
    if sys.stderr.isatty():
        click.echo(f"\r\033[K{text}", err=True, nl=final)
    else:
        click.echo(text, err=True)


@bag.command()
@click.argument("topics", nargs=-1)
@click.option("--all", "all_topics", is_flag=True, help="every topic of the running graph")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="the .mcap file to write")
@click.option("--duration", "duration_s", type=float, help="stop after S seconds (default: Ctrl-C)")
@click.option("--compression", type=click.Choice(COMPRESSIONS), default="none", show_default=True)
@click.option("--queue-bytes", type=click.IntRange(min=1), default=64 << 20, show_default=True,
              help="most bytes waiting per publisher endpoint; beyond it messages are dropped "
                   "(and counted)")
@control_option
def record(topics: tuple, all_topics: bool, output: str, duration_s: float | None,
           compression: str, queue_bytes: int, control: str | None) -> None:
    """Record TOPICS (or --all) of a running graph to an MCAP file."""
    from edge.bag import BagWriter
    from edge.bag.record import Recorder, resolve_topics

    if bool(topics) == all_topics:
        raise click.UsageError("name the topics to record, or pass --all")
    endpoints = resolve_topics(control, topics, all_topics)
    with BagWriter(output, compression=compression) as writer:
        recorder = Recorder(writer, endpoints, queue_bytes=queue_bytes)
        try:
            _status(f"recording {len(endpoints)} topic(s) to {output}", final=True)
            stats = recorder.run(duration_s, progress=lambda s: _status(s.line()))
        finally:
            recorder.close()
    _status(stats.line(), final=True)
    for topic in sorted(endpoints):
        click.echo(f"  {topic}: {stats.per_topic.get(topic, 0)} messages")
    if stats.dropped or stats.decode_errors:
        click.echo(f"warning: {stats.dropped} message(s) dropped before they reached the recorder, "
                   f"{stats.decode_errors} malformed message(s) not written", err=True)


@bag.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--rate", type=float, default=1.0, show_default=True, help="speed factor for the recorded timing")
@click.option("--loop", is_flag=True, help="start again at the end")
@click.option("--topics", "topics", multiple=True, help="play only these recorded topics (repeatable)")
@click.option("--remap", multiple=True, metavar="OLD:=NEW", help="publish a recorded topic under another name")
@click.option("--restamp", is_flag=True, help="set stamp_ns to the playback time (default: recorded capture time)")
@click.option("--subscribers", type=int, default=1, show_default=True,
              help="wait for this many subscribers per topic before playing")
@click.option("--wait", "wait_s", type=float, default=5.0, show_default=True,
              help="longest wait for subscribers, seconds")
@click.option("--queue-bytes", type=click.IntRange(min=1), default=64 << 20, show_default=True,
              help="most bytes queued for each subscriber; beyond it a slow one misses messages "
                   "(it counts them as drops)")
@control_option
def play(path: str, rate: float, loop: bool, topics: tuple, remap: tuple, restamp: bool,
         subscribers: int, wait_s: float, queue_bytes: int, control: str | None) -> None:
    """Publish a recording into a running graph (its topics declared `external`)."""
    from edge.bag.play import Player, parse_remap, resolve_external
    from edge.bag.reader import read_messages, recorded_topics

    renames = parse_remap(remap)
    available = recorded_topics(path)
    chosen = list(topics) or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise click.BadParameter(f"{path} has no topic(s) {unknown}; it holds {available}", param_hint="--topics")
    endpoints = resolve_external(control, [renames.get(t, t) for t in chosen])
    player = Player(endpoints, remap=renames, queue_bytes=queue_bytes)
    try:
        missing = player.wait_for_subscribers(subscribers, wait_s)
        if missing:
            click.echo(f"warning: fewer than {subscribers} subscriber(s) on {missing} after {wait_s:.1f}s; "
                       "playing anyway", err=True)
        stats = player.play(lambda: read_messages(path, chosen), rate=rate, loop=loop, restamp=restamp,
                            progress=lambda s: _status(s.line()))
    finally:
        player.close()
    _status(stats.line(), final=True)


@bag.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def info(path: str, as_json: bool) -> None:
    """Duration, topics, types, counts, rates, sizes and trails of a recording."""
    from edge.bag import info as bag_info

    summary = bag_info(path)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"file:      {summary['path']} ({summary['file_bytes'] / 1e6:.1f} MB, {summary['library']})")
    click.echo(f"duration:  {summary['duration_s']:.3f} s")
    click.echo(f"messages:  {summary['messages']}")
    rows = [["TOPIC", "TYPE", "COUNT", "RATE_HZ", "MEAN_BYTES", "MAX_BYTES", "TOTAL_MB", "SEQ_GAPS",
             "TRAILS"]]
    for t in summary["topics"]:
        rows.append([t["topic"], t["type"], str(t["count"]), "-" if t["rate_hz"] is None else f"{t['rate_hz']:.2f}",
                     str(t["mean_bytes"]), str(t["max_bytes"]), f"{t['bytes'] / 1e6:.2f}", str(t["seq_gaps"]),
                     str(t["trails"])])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@bag.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="the .mcap file to write")
@click.option("--foxglove", "as_foxglove", is_flag=True,
              help="write Foxglove schemas: images as foxglove.RawImage, Text/Detections as "
                   "foxglove.ImageAnnotations (the only export form so far)")
@click.option("--topics", "topics", multiple=True, help="export only these topics (repeatable)")
def export(path: str, output: str, as_foxglove: bool, topics: tuple) -> None:
    """Convert a recording for other tools (needs the `foxglove` extra)."""
    from edge.bag.foxglove import FoxgloveTopics, require_foxglove
    from edge.bag.reader import read_messages

    if not as_foxglove:
        raise click.UsageError("choose an export form: --foxglove")
    require_foxglove()
    import foxglove

    converter = FoxgloveTopics()
    writer = foxglove.open_mcap(output, allow_overwrite=True, context=converter.context)
    try:
        for item in read_messages(path, list(topics) or None):
            converter.log(item.topic, item.value, item.message.stamp_ns, item.log_time_ns,
                          item.message.source)
    finally:
        converter.close()
        writer.close()
    click.echo(f"{output}: {converter.logged} message(s) as Foxglove schemas, "
               f"{converter.skipped} without a Foxglove form skipped")
