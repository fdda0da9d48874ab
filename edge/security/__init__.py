"""CURVE on every TCP socket, by default; ipc stays plain (the 0700 runtime dir guards it).

Servers (ROUTER, PUB) bind as CURVE servers with this user's key pair, and pyzmq's ZAP
authenticator (`zmq.auth`) admits only keys it trusts: this user's own key (user id
"owner", admin), the authorized-keys directory (edge.security.keys) and the graph's peer keys a
launcher hands its nodes in $EDGE_PEER_KEYS. Unknown keys are refused and logged.
Clients (DEALER, SUB) connect as CURVE clients with this user's key pair and the
server's public key: explicit, $EDGE_SERVER_KEY, a trusted key whose address is the
endpoint's host, or else this user's own key (the same user on one host: zero-config).

A request's user id is ZeroMQ's "User-Id" message property, set from the ZAP reply;
its role decides what it may do (Service checks it). `--insecure` ($EDGE_INSECURE=1)
turns CURVE off for the whole process tree, with a loud warning per endpoint.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
import weakref
from pathlib import Path
from typing import Optional

import zmq

from edge.security import keys
from edge.errors import InvalidArgument

log = logging.getLogger("edge.security")

INSECURE_ENV = "EDGE_INSECURE"
SERVER_KEY_ENV = "EDGE_SERVER_KEY"
PEER_KEYS_ENV = "EDGE_PEER_KEYS"
_PLAIN_SCHEMES = ("ipc", "inproc")


# -- which sockets are secured --------------------------------------------------------------
def insecure() -> bool:
    return os.environ.get(INSECURE_ENV) == "1"


def allow_insecure() -> None:
    """Plain TCP for this process and the nodes it starts (`--insecure`)."""
    os.environ[INSECURE_ENV] = "1"


def is_network(endpoint: str) -> bool:
    return endpoint.split("://", 1)[0] not in _PLAIN_SCHEMES


def prepare_bind(socket: zmq.Socket, endpoint: str) -> None:
    """Make the next bind of `socket` a CURVE server if `endpoint` is on the network."""
    if not is_network(endpoint) or insecure():
        _warn_if_insecure(endpoint)
        _plain(socket)
        return
    identity = keys.load_identity()
    authenticator(socket.context)  # before the bind: without a ZAP handler CURVE admits anyone
    socket.curve_secretkey = identity.secret
    socket.curve_publickey = identity.public
    socket.curve_server = True
    _curve_servers.add(socket)


def prepare_connect(socket: zmq.Socket, endpoint: str,
                    server_key: str | bytes | None = None) -> None:
    """Make the next connect of `socket` a CURVE client if `endpoint` is on the network."""
    if not is_network(endpoint) or insecure():
        _plain(socket)
        return
    identity = keys.load_identity()
    socket.curve_secretkey = identity.secret
    socket.curve_publickey = identity.public
    socket.curve_serverkey = server_key_for(endpoint, server_key)


def _plain(socket: zmq.Socket) -> None:
    """Options apply per bind/connect: one socket may bind tcp (CURVE) and then ipc (plain)."""
    if socket.getsockopt(zmq.MECHANISM) != zmq.NULL:
        socket.curve_server = False  # libzmq: back to the NULL mechanism


_warned: set = set()


def _warn_if_insecure(endpoint: str) -> None:
    if is_network(endpoint) and endpoint not in _warned:
        _warned.add(endpoint)
        print(f"WARNING: INSECURE: {endpoint} is plain TCP (--insecure): no encryption and no "
              "authentication; anyone who can reach it can stop, change and read everything",
              file=sys.stderr, flush=True)


# -- whom a client expects to talk to ---------------------------------------------------------
def server_key_for(endpoint: str, explicit: str | bytes | None = None) -> bytes:
    if explicit:
        return keys.check_public_key(explicit)
    if os.environ.get(SERVER_KEY_ENV):
        return keys.check_public_key(os.environ[SERVER_KEY_ENV])
    host = endpoint_host(endpoint)
    for entry in list(peer_keys().values()) + list(trusted_keys().values()):
        if entry.address and entry.address == host:
            return entry.public
    return keys.load_identity().public


def endpoint_host(endpoint: str) -> str:
    """tcp://HOST:PORT -> HOST (brackets of an IPv6 literal removed)."""
    rest = endpoint.split("://", 1)[-1]
    host = rest.rsplit(":", 1)[0] if ":" in rest else rest
    return host.strip("[]")


def peer_keys() -> dict[bytes, keys.TrustedKey]:
    """The graph's host keys a launcher passed down ($EDGE_PEER_KEYS, a JSON list)."""
    text = os.environ.get(PEER_KEYS_ENV)
    if not text:
        return {}
    try:
        entries = json.loads(text)
        found = {}
        for e in entries:
            key = keys.TrustedKey(str(e["name"]), keys.check_public_key(e["public_key"]),
                                  e.get("role", "read"), e.get("address"))
            found[key.public] = key
        return found
    except (ValueError, KeyError, TypeError, InvalidArgument) as exc:
        raise InvalidArgument(f"${PEER_KEYS_ENV} is not a list of keys: {exc}") from None


_trusted_cache: dict = {}


def trusted_keys(directory: Path | None = None) -> dict[bytes, keys.TrustedKey]:
    """The authorized directory, read again only when it changed (trust takes effect at once)."""
    folder = keys.authorized_dir(directory)
    try:
        stamp = (str(folder), folder.stat().st_mtime_ns)
    except FileNotFoundError:
        return {}
    if _trusted_cache.get("stamp") != stamp:
        _trusted_cache.update(stamp=stamp, keys=keys.trusted(directory))
    return _trusted_cache["keys"]


# -- the ZAP handler (edge.security.zap, imported only where a network socket binds) ------------
roles: dict[str, str] = {keys.OWNER: "admin"}   # user id -> role, of every key admitted


_lock = threading.Lock()
_running: dict[int, tuple] = {}   # id(context) -> (context, authenticator)


def authenticator(context: zmq.Context):
    """The one ZAP handler of `context` (ZeroMQ allows one per context), started once."""
    with _lock:
        found = _running.get(id(context))
        if found is not None and found[0] is context and found[1].is_alive():
            return found[1]
        from edge.security.zap import KeyAuthenticator  # pulls in asyncio: only for servers

        auth = KeyAuthenticator(context, peers=peer_keys(), trusted=trusted_keys, roles=roles)
        auth.start()
        _running[id(context)] = (context, auth)
        return auth


def stop_authenticator(context: zmq.Context) -> None:
    """Before `context.term()`: the ZAP thread's sockets would keep it waiting."""
    with _lock:
        found = _running.pop(id(context), None)
    if found is not None:
        found[1].stop()


# -- who sent a request -------------------------------------------------------------------------
# Sockets that prepare_bind made CURVE servers (with the ZAP handler that sets User-Id). Only
# their messages can carry a User-Id: asking any other message's frame fails, and a failing
# zmq_msg_gets costs a raised ZMQError (µs) on every request.
_curve_servers: "weakref.WeakSet[zmq.Socket]" = weakref.WeakSet()

OWNER_PEER = (None, "admin")


def peer(frame, socket: zmq.Socket | None = None) -> tuple[Optional[str], str]:
    """(user id, role) of the connection `frame` came over (on `socket`, when given).

    No User-Id means no CURVE: ipc (guarded by the runtime dir) or explicit --insecure,
    whose callers are the owner. A socket never bound as a CURVE server by prepare_bind has
    no User-Id on any message, so its frames are not asked.
    """
    if socket is not None and socket not in _curve_servers:
        return OWNER_PEER
    try:
        user = frame.get("User-Id")
    except (zmq.ZMQError, AttributeError):
        return OWNER_PEER
    return user, roles.get(user, "read")
