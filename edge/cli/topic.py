"""`edge topic echo|hz|bw|latency|pub TOPIC`: watch and feed topics from the shell."""
from __future__ import annotations

import time
from typing import Callable

import click
import numpy as np
import yaml
import zmq

from edge.cli.control import topic_list
from edge.cli.output import summarise
from edge.endpoints import close_socket, connect
from edge.errors import EdgeError, InvalidArgument
from edge.launch.control import ControlClient
from edge.lookup import Lookup
from edge.config import NodeConfig
from edge.node import Node

QUIET_NOTICE_S = 1.0  # echo says it is waiting after this long without a message
control_option = click.option("--control", metavar="ENDPOINT",
                              help="control endpoint of the running graph (default: the local one)")


@click.group()
def topic() -> None:
    """Inspect topics."""


topic.add_command(topic_list)


def _watch(name: str, endpoint: str | None, duration_s: float | None, control: str | None = None,
           on_quiet: Callable[[str, float], None] | None = None):
    """Events of topic NAME; `on_quiet(endpoint, quiet_s)` runs while none arrive."""
    node = Node(f"edge-cli-{name.replace('/', '_')}", control=control)
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
@control_option
def echo(name: str, endpoint: str | None, count: int | None, duration_s: float | None,
         timeout_s: float | None, control: str | None) -> None:
    """Print messages on topic NAME (arrays of more than 8 items as dtype, shape, min/max/mean)."""
    told = []

    def on_quiet(bound: str, quiet_s: float) -> None:
        if timeout_s is not None and quiet_s >= timeout_s:
            raise click.ClickException(f"no message on {name!r} from {bound} for "
                                       f"{timeout_s:g}s; is anything publishing it?")
        if quiet_s >= QUIET_NOTICE_S and not told:
            told.append(True)
            click.echo(f"no message on {name!r} from {bound} yet; waiting (Ctrl-C to stop, "
                       "--timeout S to give up)", err=True)

    for index, event in enumerate(_watch(name, endpoint, duration_s, control, on_quiet),
                                  start=1):
        latency_ms = (time.time_ns() - event.stamp_ns) / 1e6
        trail = f" trail {' > '.join(hop[0] for hop in event.trail)}" if event.trail else ""
        click.echo(f"[{event.seq}] from {event.source} age {latency_ms:.2f} ms "
                   f"dropped {event.dropped}{trail}: {summarise(event.value, array_stats=True)}")
        if count and index >= count:
            return


@topic.command()
@click.argument("name")
@click.option("--endpoint", help="publisher endpoint (default: ask the running graph)")
@click.option("--duration", "duration_s", type=float, default=5.0, show_default=True)
@control_option
def hz(name: str, endpoint: str | None, duration_s: float, control: str | None) -> None:
    """Rate of topic NAME, the publisher's seq gaps here, and every graph subscriber's drops."""
    stamps, gaps, last_seq = [], 0, {}
    for event in _watch(name, endpoint, duration_s, control):
        stamps.append(time.monotonic())
        previous = last_seq.get(event.source)
        if previous is not None and event.seq > previous + 1:
            gaps += event.seq - previous - 1
        last_seq[event.source] = event.seq
    if len(stamps) < 2:
        raise click.ClickException(f"fewer than 2 messages on {name!r} in {duration_s:.1f}s")
    intervals_ms = np.diff(stamps) * 1e3
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    click.echo(f"{name}: {rate:.1f} msg/s over {len(stamps)} messages; interval ms min "
               f"{intervals_ms.min():.1f} mean {intervals_ms.mean():.1f} max {intervals_ms.max():.1f} "
               f"std {intervals_ms.std():.1f}")
    click.echo(f"  seq gaps seen here: {gaps} (publisher(s) {', '.join(sorted(last_seq))})")
    for line in _graph_counters(name, control):
        click.echo(f"  {line}")


def _graph_counters(name: str, control: str | None) -> list[str]:
    """Per node of the running graph: what it published on NAME, or received and dropped."""
    try:
        with ControlClient(control, timeout_s=2.0, retries=0) as graph:
            nodes = graph.stats().get("nodes", {})
    except EdgeError as exc:
        return [f"(no graph counters: {exc})"]
    lines = []
    for node_name, stats in sorted(nodes.items()):
        published = (stats.get("published") or {}).get(name)
        if published is not None:
            lines.append(f"publisher {node_name}: {published} published")
        for local, port in sorted((stats.get("inputs") or {}).items()):
            if port.get("topic") == name:
                lines.append(f"subscriber {node_name}.{local}: {port.get('received', 0)} received, "
                             f"{port.get('dropped', 0)} dropped ({port.get('drained', 0)} by its "
                             f"queue), {port.get('decode_errors', 0)} malformed")
    return lines or [f"(no node of the graph publishes or reads {name!r})"]


def _raw_sizes(name: str, endpoint: str | None, duration_s: float, control: str | None):
    """(monotonic time, bytes on the wire) per message of NAME, for `duration_s`."""
    context = zmq.Context.instance()
    server_key = None
    if endpoint is None:
        endpoint, server_key = Lookup(NodeConfig(name="edge-cli-bw", control=control),
                                      context).input_route(name)
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.SUBSCRIBE, name.encode())
    connect(socket, endpoint, server_key)  # CURVE on tcp (edge.security)
    stop_at = time.monotonic() + duration_s
    try:
        while (remaining_s := stop_at - time.monotonic()) > 0:
            if not socket.poll(max(1, int(min(remaining_s, 0.5) * 1000))):
                continue
            frames = socket.recv_multipart(copy=False)
            if frames[0].bytes == name.encode():   # SUBSCRIBE matches prefixes only
                yield time.monotonic(), sum(len(frame) for frame in frames)
    finally:
        close_socket(socket)


@topic.command()
@click.argument("name")
@click.option("--endpoint", help="publisher endpoint (default: ask the running graph)")
@click.option("--duration", "duration_s", type=float, default=5.0, show_default=True)
@control_option
def bw(name: str, endpoint: str | None, duration_s: float, control: str | None) -> None:
    """Bandwidth of topic NAME: bytes/s on the wire and message size stats."""
    samples = list(_raw_sizes(name, endpoint, duration_s, control))
    if len(samples) < 2:
        raise click.ClickException(f"fewer than 2 messages on {name!r} in {duration_s:.1f}s")
    times, sizes = np.array([t for t, _ in samples]), np.array([s for _, s in samples])
    span_s = times[-1] - times[0]
    click.echo(f"{name}: {_bytes(sizes[1:].sum() / span_s)}/s, {(len(sizes) - 1) / span_s:.1f} msg/s "
               f"over {len(sizes)} messages")
    click.echo(f"  message size: mean {_bytes(sizes.mean())} min {_bytes(sizes.min())} "
               f"max {_bytes(sizes.max())}")


def _bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{count:.0f} B"
        count /= 1000
    return f"{count:.1f} GB"


@topic.command()
@click.argument("name")
@click.option("--endpoint", help="publisher endpoint (default: ask the running graph)")
@click.option("--duration", "duration_s", type=float, default=5.0, show_default=True)
@control_option
def latency(name: str, endpoint: str | None, duration_s: float, control: str | None) -> None:
    """Age of messages on NAME when they arrive here: capture (stamp_ns) and publish to now;
    per hop (time in each node, wait between nodes) when they carry a trail."""
    from edge.cli.latency import LatencySamples

    samples = LatencySamples()
    for event in _watch(name, endpoint, duration_s, control):
        samples.add(event.stamp_ns, event.pub_ns, event.trail, event.recv_ns)
    if not samples.capture_ms:
        raise click.ClickException(f"no message on {name!r} in {duration_s:.1f}s")
    for line in samples.lines(name):
        click.echo(line)


def _value(text: str | None, npy: str | None, dtype: str | None):
    """The value to publish: YAML/JSON text or a .npy file, optionally as an array of `dtype`."""
    if (text is None) == (npy is None):
        raise click.UsageError("give a VALUE (YAML or JSON) or --npy FILE")
    if npy is not None:
        try:
            value = np.load(npy, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"--npy {npy}: {exc}") from None
    else:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidArgument(f"VALUE is not YAML/JSON: {str(exc).splitlines()[0]}") from None
    if dtype is not None:
        try:
            value = np.asarray(value, dtype=np.dtype(dtype))
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"cannot make a {dtype} array of the value: {exc}") from None
    return value


@topic.command()
@click.argument("name")
@click.argument("value", required=False)
@click.option("--npy", type=click.Path(exists=True, dir_okay=False), help="publish this .npy array")
@click.option("--dtype", help="publish VALUE as a numpy array of this dtype (e.g. float32)")
@click.option("--rate", "rate_hz", type=float, help="messages per second (default: one message)")
@click.option("--count", "-n", type=int, help="stop after N messages (default: 1, or forever with --rate)")
@click.option("--wait", "wait_s", type=float, default=3.0, show_default=True,
              help="longest wait for a subscriber before the first message, seconds")
@control_option
def pub(name: str, value: str | None, npy: str | None, dtype: str | None, rate_hz: float | None,
        count: int | None, wait_s: float, control: str | None) -> None:
    """Publish VALUE on topic NAME, declared `external` in the running graph's launch file."""
    from edge.bag.play import Player, resolve_external
    from messages import StreamMessage, new_stream_encoder

    payload = _value(value, npy, dtype)
    if rate_hz is not None and rate_hz <= 0:
        raise click.BadParameter("must be > 0", param_hint="--rate")
    count = count if count is not None else (None if rate_hz else 1)
    player = Player(resolve_external(control, [name]))
    encoder, sent = new_stream_encoder(), 0
    try:
        if player.wait_for_subscribers(1, wait_s):
            click.echo(f"warning: no subscriber on {name!r} after {wait_s:.1f}s; publishing anyway", err=True)
        start = time.monotonic()
        while (count is None or sent < count) and player.wait_until(start + sent / (rate_hz or 1e9)):
            now_ns = time.time_ns()
            try:
                frames = StreamMessage(name, payload, sent + 1, now_ns, now_ns, "edge-topic-pub").to_frames(encoder)
            except TypeError as exc:
                raise InvalidArgument(f"cannot send this value: {exc}") from None
            player.send_frames(frames)
            sent += 1
    finally:
        player.close()
    click.echo(f"published {sent} message(s) on {name}")
