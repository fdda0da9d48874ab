"""Where sockets live: a private runtime directory for ipc, loopback tcp otherwise."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

import zmq

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
        raise ValueError(f"ipc path too long ({len(str(path))} > {IPC_PATH_MAX} bytes): {path}; "
                         "set EDGE_RUNTIME_DIR to a shorter directory")
    return f"ipc://{path}"


def bind(socket: zmq.Socket, endpoint: str) -> str:
    """Bind and return the real endpoint (a tcp wildcard port becomes the chosen port)."""
    if endpoint.startswith("ipc://"):
        Path(endpoint[len("ipc://"):]).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    socket.bind(endpoint)
    return socket.getsockopt_string(zmq.LAST_ENDPOINT)


def remove_ipc(endpoint: str) -> None:
    """Delete an ipc socket file this process bound, so no stale file is left."""
    if endpoint.startswith("ipc://"):
        try:
            os.unlink(endpoint[len("ipc://"):])
        except FileNotFoundError:
            pass


def close_socket(socket: zmq.Socket, bound: str | None = None, linger_ms: int = 0) -> None:
    """`linger_ms` > 0 lets replies sent just before close still leave (bounded)."""
    socket.close(linger=linger_ms)
    if bound:
        remove_ipc(bound)
