"""Where sockets live: a private runtime directory for ipc, loopback tcp otherwise."""
from __future__ import annotations

import hashlib
import os
import re
import socket
import tempfile
from pathlib import Path

import zmq

from edge.errors import InvalidArgument

IPC_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes including the NUL


def runtime_dir() -> Path:
    """$EDGE_RUNTIME_DIR, else $XDG_RUNTIME_DIR/edge, else /tmp/edge-<uid> (mode 0700)."""
    explicit = os.environ.get("EDGE_RUNTIME_DIR")
    if explicit:
        path = Path(explicit)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "edge"
    else:
        path = Path(tempfile.gettempdir()) / f"edge-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def ipc_endpoint(name: str, directory: Path | None = None) -> str:
    """An ipc endpoint for `name` that fits the socket path limit (hashed if too long)."""
    directory = Path(directory) if directory is not None else runtime_dir()
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    path = directory / f"{safe}.sock"
    if len(str(path)) > IPC_PATH_MAX:
        digest = hashlib.sha1(name.encode()).hexdigest()[:16]
        path = directory / f"{digest}.sock"
    if len(str(path)) > IPC_PATH_MAX:
        raise InvalidArgument(f"ipc path too long ({len(str(path))} > {IPC_PATH_MAX} bytes): {path}; "
                         "set EDGE_RUNTIME_DIR to a shorter directory")
    return f"ipc://{path}"


def bind(sock: zmq.Socket, endpoint: str) -> str:
    """Bind and return the real endpoint (a tcp wildcard port becomes the chosen port)."""
    if endpoint.startswith("ipc://"):
        Path(endpoint[len("ipc://"):]).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    sock.bind(endpoint)
    return sock.getsockopt_string(zmq.LAST_ENDPOINT)


def connect(sock: zmq.Socket, endpoint: str) -> None:
    """Connect; an endpoint zmq cannot parse is the caller's InvalidArgument, naming it."""
    try:
        sock.connect(endpoint)
    except zmq.ZMQError as exc:
        raise InvalidArgument(f"bad endpoint {endpoint!r}: {os.strerror(exc.errno).lower()} "
                              "(expected e.g. tcp://host:port or ipc:///path)") from None


def ipc_listening(endpoint: str, timeout_s: float = 0.5) -> bool:
    """False when nothing listens at an ipc endpoint: no socket file, or a stale one that a
    dead process left (the kernel refuses the connect at once). Other transports: True."""
    if not endpoint.startswith("ipc://"):
        return True
    path = endpoint[len("ipc://"):]
    address = "\0" + path[1:] if path.startswith("@") else path  # zmq's abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout_s)
        try:
            probe.connect(address)
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            return False
        except OSError:
            return True  # e.g. a full backlog: something is there
    return True


def remove_ipc(endpoint: str) -> None:
    """Delete an ipc socket file this process bound, so no stale file is left."""
    if endpoint.startswith("ipc://"):
        try:
            os.unlink(endpoint[len("ipc://"):])
        except FileNotFoundError:
            pass


def close_socket(sock: zmq.Socket, bound: str | None = None) -> None:
    sock.close(linger=0)
    if bound:
        remove_ipc(bound)
