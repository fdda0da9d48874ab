"""`edge foxglove`: serve a running graph's topics over the Foxglove WebSocket protocol."""
from __future__ import annotations

import click

from edge.launch.control import ControlClient
from edge.node import Node


@click.command()
@click.option("--topics", "topics", multiple=True, help="serve only these topics (default: every topic)")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8765, show_default=True, help="0 = any free port (printed)")
@click.option("--control", "--endpoint", "control", metavar="ENDPOINT",
              help="control endpoint of the running graph (default: the local one)")
def foxglove(topics: tuple, host: str, port: int, control: str | None) -> None:
    """Serve the running graph's topics to Foxglove, live (needs the `foxglove` extra).

    Images become foxglove.RawImage, Text/Detections foxglove.ImageAnnotations stamped with
    their frame's capture time; other values are not served.
    """
    from edge.bag.foxglove import FoxgloveTopics, require_foxglove

    require_foxglove()
    import foxglove as sdk

    if not topics:
        with ControlClient(control) as graph:
            topics = tuple(row["topic"] for row in graph.topics())
    converter = FoxgloveTopics()
    server = sdk.start_server(name="edge", host=host, port=port, context=converter.context)
    node = Node("edge-foxglove", control=control)
    try:
        for topic in topics:
            node.subscribe(topic, queue_size=4)
        click.echo(f"foxglove: ws://{host}:{server.port} serving {len(topics)} topic(s); "
                   "open it in Foxglove (Open connection -> Foxglove WebSocket)", err=True)
        for event in node:
            if event.kind == "input":
                converter.log(event.topic, event.value, event.stamp_ns, source=event.source)
    finally:
        node.close()
        converter.close()
        server.stop()
