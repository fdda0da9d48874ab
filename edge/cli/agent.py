"""`edge agent`: let a launcher on another machine run nodes here (docs/DEPLOY.md)."""
from __future__ import annotations

import logging
import sys

import click

from edge.launch.agent import HEARTBEAT_TIMEOUT_S, Agent
from edge.launch.hosts import AGENT_PORT


@click.command()
@click.option("--listen", "endpoint", metavar="ENDPOINT", required=True,
              help=f"where launchers reach this agent, e.g. tcp://10.0.0.2:{AGENT_PORT} "
                   "(CURVE: only admin keys may start nodes)")
@click.option("--heartbeat-timeout", "heartbeat_timeout_s", type=float,
              default=HEARTBEAT_TIMEOUT_S, show_default=True, metavar="S",
              help="stop a launcher's nodes after S seconds without hearing from it")
def agent(endpoint: str, heartbeat_timeout_s: float) -> None:
    """Start, stop and watch the nodes launchers ask for, on this machine."""
    logging.basicConfig(level=logging.INFO, format="agent | %(message)s", stream=sys.stdout)
    sys.exit(Agent(endpoint, heartbeat_timeout_s=heartbeat_timeout_s).run())
