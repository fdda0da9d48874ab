"""`edge keys init|show|trust|revoke|list`: this user's CURVE key pair and whom it trusts."""
from __future__ import annotations

import click

from edge.security import keys
from edge.cli.output import print_value


@click.group("keys")
def keys_group() -> None:
    """CURVE keys: every TCP socket is encrypted and admits only trusted keys (docs/SECURITY.md)."""


@keys_group.command()
@click.option("--force", is_flag=True, help="replace an existing key pair (peers must re-trust it)")
def init(force: bool) -> None:
    """Create this user's key pair (the secret file is mode 0600)."""
    existed = (keys.keys_dir() / "id.key_secret").exists()
    identity = keys.init(force=force)
    verb = "kept the existing" if existed and not force else "created a new"
    click.echo(f"{verb} key pair in {keys.keys_dir()}")
    click.echo(f"public key: {identity.public.decode()}")


@keys_group.command()
def show() -> None:
    """Print this user's public key (safe to share; made on first use)."""
    click.echo(keys.load_identity().public.decode())


@keys_group.command()
@click.argument("name")
@click.argument("public_key")
@click.option("--role", type=click.Choice(keys.ROLES), default="read", show_default=True,
              help="read: list nodes, topics, echo, stats; admin: also stop, set, shut down")
@click.option("--address", metavar="HOST",
              help="this key's own server address: clients connecting to HOST expect this key")
def trust(name: str, public_key: str, role: str, address: str | None) -> None:
    """Admit PUBLIC_KEY (from `edge keys show` on its machine) as NAME with a role."""
    entry = keys.trust(name, public_key, role, address)
    where = f", server key for {entry.address}" if entry.address else ""
    click.echo(f"trusted {entry.name} ({entry.role}{where})")


@keys_group.command()
@click.argument("name")
def revoke(name: str) -> None:
    """Stop trusting NAME (new connections are refused; reconnect to drop old ones)."""
    keys.revoke(name)
    click.echo(f"revoked {name}")


@keys_group.command("list")
def list_() -> None:
    """The trusted keys: name, role, address."""
    print_value([entry.to_wire() for entry in keys.trusted().values()])
