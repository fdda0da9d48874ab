"""CURVE key files: this user's key pair and the keys it trusts, with a role each.

    $EDGE_KEYS_DIR (default $XDG_CONFIG_HOME/edge/keys, else ~/.config/edge/keys), mode 0700
        id.key                 this user's public key      (ZeroMQ certificate format)
        id.key_secret          this user's secret key      (mode 0600; refused if looser)
        authorized/NAME.key    a trusted public key, its role and optionally its address

The files are the zcert text format pyzmq's `zmq.auth.load_certificate` reads, so keys
made by czmq or pyzmq tools can be dropped in. Keys are Z85 text (40 characters).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import zmq
from zmq.utils import z85

from edge.errors import FailedPrecondition, InvalidArgument, NotFound

KEYS_DIR_ENV = "EDGE_KEYS_DIR"
ROLES = ("read", "admin")
OWNER = "owner"  # the user id of this user's own key: always admin
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_FIELD = re.compile(r'^\s*([a-z-]+)\s*=\s*"([^"]*)"\s*$')


@dataclass(frozen=True)
class Identity:
    """This user's key pair (Z85 bytes), used as the CURVE client and server key alike."""

    public: bytes
    secret: bytes


@dataclass(frozen=True)
class TrustedKey:
    name: str
    public: bytes
    role: str
    address: Optional[str] = None   # a host this key serves on: clients use it as the server key

    def to_wire(self) -> dict:
        return {"name": self.name, "public_key": self.public.decode(), "role": self.role,
                "address": self.address}


def keys_dir() -> Path:
    explicit = os.environ.get(KEYS_DIR_ENV)
    if explicit:
        return Path(explicit)
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "edge" / "keys"


def check_public_key(text: str | bytes) -> bytes:
    """A Z85 public key as bytes, or InvalidArgument."""
    key = text.encode() if isinstance(text, str) else bytes(text)
    key = key.strip()
    if len(key) != 40:
        raise InvalidArgument(f"a public key is 40 Z85 characters, got {len(key)}: {key[:48]!r}")
    try:
        z85.decode(key)
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument(f"not a Z85 key: {key.decode(errors='replace')!r}") from None
    return key


# -- this user's key pair ---------------------------------------------------------------------
def init(directory: Path | None = None, *, force: bool = False) -> Identity:
    """Create the key pair (secret 0600, directory 0700); an existing pair is kept unless force."""
    directory = directory or keys_dir()
    public_path, secret_path = directory / "id.key", directory / "id.key_secret"
    if secret_path.exists() and not force:
        return load_identity(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    public, secret = zmq.curve_keypair()
    _write(secret_path, _certificate("secret", public, secret), mode=0o600)
    _write(public_path, _certificate("public", public), mode=0o644)
    return Identity(public, secret)


def load_identity(directory: Path | None = None, *, create: bool = True) -> Identity:
    """This user's key pair; made on first use (zero-config on one host) unless create=False."""
    directory = directory or keys_dir()
    secret_path = directory / "id.key_secret"
    if not secret_path.exists():
        if not create:
            raise NotFound(f"no key pair in {directory}; run `edge keys init`")
        return init(directory)
    mode = secret_path.stat().st_mode & 0o777
    if mode & 0o077:
        raise FailedPrecondition(f"secret key {secret_path} is readable by others (mode "
                                 f"{mode:o}); run `chmod 600 {secret_path}`")
    fields = _read_certificate(secret_path)
    try:
        return Identity(check_public_key(fields["public-key"]), fields["secret-key"].encode())
    except KeyError as exc:
        raise FailedPrecondition(f"{secret_path} has no {exc.args[0]}") from None


# -- trusted keys -----------------------------------------------------------------------------
def authorized_dir(directory: Path | None = None) -> Path:
    return (directory or keys_dir()) / "authorized"


def trust(name: str, public_key: str, role: str = "read", address: str | None = None,
          directory: Path | None = None) -> TrustedKey:
    """Trust `public_key` as NAME with `role`; trusting NAME again replaces the entry."""
    if not _NAME.match(name) or name == OWNER:
        raise InvalidArgument(f"key name {name!r}: letters, digits, _.@- (max 64), not {OWNER!r}")
    if role not in ROLES:
        raise InvalidArgument(f"role {role!r}: expected one of {', '.join(ROLES)}")
    key = TrustedKey(name, check_public_key(public_key), role, address or None)
    folder = authorized_dir(directory)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    metadata = {"name": name, "role": role, **({"address": address} if address else {})}
    _write(folder / f"{name}.key", _certificate("public", key.public, metadata=metadata),
           mode=0o644)
    return key


def revoke(name: str, directory: Path | None = None) -> None:
    path = authorized_dir(directory) / f"{name}.key"
    if not _NAME.match(name) or not path.exists():
        raise NotFound(f"no trusted key named {name!r} in {path.parent}")
    path.unlink()


def trusted(directory: Path | None = None) -> dict[bytes, TrustedKey]:
    """public key -> TrustedKey for every readable file in the authorized directory."""
    keys: dict[bytes, TrustedKey] = {}
    folder = authorized_dir(directory)
    for path in sorted(folder.glob("*.key")) if folder.is_dir() else []:
        fields = _read_certificate(path)
        try:
            public = check_public_key(fields.get("public-key", ""))
        except InvalidArgument:
            continue  # a broken file trusts nobody
        role = fields.get("role", "read")
        keys[public] = TrustedKey(fields.get("name", path.stem), public,
                                  role if role in ROLES else "read", fields.get("address"))
    return keys


# -- the certificate text format -----------------------------------------------------------------
def _certificate(kind: str, public: bytes, secret: bytes | None = None,
                 metadata: dict | None = None) -> str:
    lines = [f"#   ZeroMQ CURVE {'Secret' if secret else 'Public'} Certificate (edge keys)",
             "#   Exchange securely, or use a secure mechanism to verify the contents",
             "#   of this file after exchange. Store public certificates in your home",
             "#   directory, in the .curve subdirectory.", "", "metadata"]
    lines += [f'    {key} = "{value}"' for key, value in (metadata or {}).items()]
    lines += ["curve", f'    public-key = "{public.decode()}"']
    if kind == "secret":
        lines.append(f'    secret-key = "{secret.decode()}"')
    return "\n".join(lines) + "\n"


def _read_certificate(path: Path) -> dict:
    fields = {}
    for line in path.read_text(errors="replace").splitlines()[:200]:
        match = _FIELD.match(line)
        if match:
            fields[match.group(1)] = match.group(2)
    return fields


def _write(path: Path, text: str, *, mode: int) -> None:
    """Write via a temp file created with `mode` (never briefly world-readable), then rename."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(temp, mode)
    os.replace(temp, path)
