"""`edge call ENDPOINT METHOD [BODY]`: any service method from the shell."""
from __future__ import annotations

import json

import click

from edge.cli.output import print_value
from edge.client import Client


@click.command()
@click.argument("endpoint")
@click.argument("method")
@click.argument("body", required=False)
@click.option("--timeout", "timeout_s", default=3.0, show_default=True, help="seconds per attempt")
@click.option("--retries", default=1, show_default=True)
def call(endpoint: str, method: str, body: str | None, timeout_s: float, retries: int) -> None:
    """Call METHOD on the service at ENDPOINT with a JSON BODY and print the reply."""
    try:
        value = json.loads(body) if body else None
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"BODY is not JSON: {exc}") from None
    with Client(endpoint, timeout_s=timeout_s, retries=retries) as client:
        print_value(client.call(method, value))
