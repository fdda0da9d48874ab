"""Where sockets live: a private runtime directory for ipc, loopback tcp otherwise."""
from __future__ import annotations

import hashlib
import os
import re
import socket
import stat
import tempfile
from pathlib import Path

import zmq

from edge.errors import ConfigError, InvalidArgument

IPC_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes including the NUL


def runtime_dir() -> Path:
    """$EDGE_RUNTIME_DIR, else $XDG_RUNTIME_DIR/edge, else <tmp>/edge-<uid> created 0700.

    Refused (ConfigError) unless it is a directory of this user that group and others
    cannot write: another local user could otherwise squat the socket names in it.
    """
    explicit = os.environ.get("EDGE_RUNTIME_DIR")
    if explicit:
        path = Path(explicit)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "edge"
    else:
        path = Path(tempfile.gettempdir()) / f"edge-{os.getuid()}"
        if path.is_symlink():
            raise ConfigError(f"runtime directory {path} is a symbolic link; remove it, or set "
                              "EDGE_RUNTIME_DIR or XDG_RUNTIME_DIR to a private directory")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_private_dir(path)
    return path


def check_private_dir(path: Path) -> None:
    """ConfigError, in one line, unless `path` is this user's and only this user's to write."""
    info = os.stat(path)
    if not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif info.st_uid != os.getuid():
        problem = f"belongs to uid {info.st_uid}, not to this user (uid {os.getuid()})"
    elif info.st_mode & 0o022:
        problem = f"has mode {stat.S_IMODE(info.st_mode):04o}: group or others can write it"
    else:
        return
    raise ConfigError(f"runtime directory {path} {problem}; remove it, or set EDGE_RUNTIME_DIR "
                      "or XDG_RUNTIME_DIR to a private directory")


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
    """Bind and return the real endpoint (a tcp wildcard port becomes the chosen port).

    A network endpoint binds as a CURVE server (edge.security), ipc plainly.
    """
    from edge import security

    if endpoint.startswith("ipc://"):
        Path(endpoint[len("ipc://"):]).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    security.prepare_bind(sock, endpoint)
    sock.bind(endpoint)
    return sock.getsockopt_string(zmq.LAST_ENDPOINT)


def connect(sock: zmq.Socket, endpoint: str, server_key: str | bytes | None = None) -> None:
    """Connect; an endpoint zmq cannot parse is the caller's InvalidArgument, naming it.

    A network endpoint connects as a CURVE client expecting `server_key` (edge.security).
    """
    from edge import security

    security.prepare_connect(sock, endpoint, server_key)
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


def close_socket(sock: zmq.Socket, bound: str | None = None, linger_ms: int = 0) -> None:
    """`linger_ms` > 0 lets replies sent just before close still leave (bounded)."""
    sock.close(linger=linger_ms)
    if bound:
        remove_ipc(bound)
