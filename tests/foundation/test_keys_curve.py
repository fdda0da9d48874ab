"""Key files and CURVE on real TCP sockets: trusted keys get through, others get nothing."""
from __future__ import annotations

import os
import stat
import time

import numpy as np
import pytest
import zmq
import zmq.auth

from edge import security
from edge.security import keys
from edge.bus import Publisher
from edge.inputs import Input
from edge.client import Client
from edge.errors import (FailedPrecondition, InvalidArgument, NotFound, PermissionDenied,
                         ServiceTimeout)
from edge.endpoints import bind
from edge.service import Service

pytestmark = pytest.mark.timeout(30)


def test_init_makes_a_private_key_pair_and_keeps_it(tmp_path):
    directory = tmp_path / "keys"
    first = keys.init(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "id.key_secret").stat().st_mode) == 0o600
    assert keys.init(directory) == first                      # not replaced without force
    assert keys.init(directory, force=True) != first
    # the zcert format pyzmq itself reads
    public, secret = zmq.auth.load_certificate(directory / "id.key_secret")
    assert keys.load_identity(directory) == keys.Identity(public, secret)
    assert zmq.auth.load_certificate(directory / "id.key") == (public, None)


def test_a_secret_others_can_read_is_refused(tmp_path):
    keys.init(tmp_path)
    os.chmod(tmp_path / "id.key_secret", 0o644)
    with pytest.raises(FailedPrecondition, match="readable by others.*chmod 600"):
        keys.load_identity(tmp_path)
    with pytest.raises(NotFound, match="edge keys init"):
        keys.load_identity(tmp_path / "none", create=False)


def test_trust_checks_names_keys_roles_and_can_be_revoked(tmp_path):
    public = zmq.curve_keypair()[0].decode()
    entry = keys.trust("laptop", public, role="admin", address="10.77.0.2", directory=tmp_path)
    assert keys.trusted(tmp_path) == {public.encode(): entry}
    assert entry.to_wire() == {"name": "laptop", "public_key": public, "role": "admin",
                               "address": "10.77.0.2"}
    for name, key, role in (("../x", public, "read"), ("owner", public, "read"),
                            ("ok", public[:-1], "read"), ("ok", "\"" * 40, "read"),
                            ("ok", public, "root")):
        with pytest.raises(InvalidArgument):
            keys.trust(name, key, role=role, directory=tmp_path)
    keys.revoke("laptop", tmp_path)
    assert keys.trusted(tmp_path) == {}
    with pytest.raises(NotFound):
        keys.revoke("laptop", tmp_path)


def test_server_key_explicit_then_env_then_address_then_own(monkeypatch):
    own = keys.load_identity().public
    assert security.server_key_for("tcp://127.0.0.1:1") == own
    robot = zmq.curve_keypair()[0]
    keys.trust("robot-test", robot.decode(), address="10.77.9.9")
    try:
        assert security.server_key_for("tcp://10.77.9.9:5600") == robot
        other = zmq.curve_keypair()[0]
        monkeypatch.setenv("EDGE_SERVER_KEY", other.decode())
        assert security.server_key_for("tcp://10.77.9.9:5600") == other
        assert security.server_key_for("tcp://10.77.9.9:5600", robot) == robot
    finally:
        keys.revoke("robot-test")
    assert security.endpoint_host("tcp://[::1]:5") == "::1"


def _recv_within(source: Input, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if source.socket.poll(50):
            source.drain()
            message = source.pop()
            if message is not None:
                return message
    return None


def test_pubsub_over_tcp_reaches_trusted_subscribers_only(tmp_path, monkeypatch):
    context = zmq.Context.instance()
    publisher = Publisher(context, "tcp://127.0.0.1:*", source="cam")
    assert publisher.socket.getsockopt(zmq.MECHANISM) == zmq.CURVE
    owner_sub = Input(context, "in", "frames", publisher.endpoint)
    monkeypatch.setenv("EDGE_SERVER_KEY", keys.load_identity().public.decode())
    monkeypatch.setenv("EDGE_KEYS_DIR", str(tmp_path))   # a second user in this process
    stranger_sub = Input(context, "in", "frames", publisher.endpoint)
    try:
        frame = np.arange(12, dtype=np.uint8).reshape(3, 4)
        deadline = time.monotonic() + 5
        got = None
        while got is None and time.monotonic() < deadline:  # slow joiner: publish until one lands
            publisher.send("frames", frame)
            got = _recv_within(owner_sub, 0.1)
        assert got is not None and np.array_equal(got.value, frame)
        for _ in range(5):
            publisher.send("frames", frame)
        assert _recv_within(stranger_sub, 0.5) is None
    finally:
        for sock in (owner_sub, stranger_sub, publisher):
            sock.close()


def test_service_knows_who_asks_and_refuses_read_keys_writes(tmp_path, monkeypatch):
    owner_dir = keys.keys_dir()
    service = Service("tcp://127.0.0.1:*", name="t")
    service.add("whoami", lambda request: [request.user_id, request.role], role="read")
    service.add("poke", lambda request: "poked")
    service.start()
    try:
        with Client(service.endpoint, timeout_s=3, retries=0) as client:
            assert client.call("whoami") == ["owner", "admin"]
            assert client.call("poke") == "poked"
        owner_public = keys.load_identity().public.decode()
        monkeypatch.setenv("EDGE_KEYS_DIR", str(tmp_path))
        monkeypatch.setenv("EDGE_SERVER_KEY", owner_public)
        with Client(service.endpoint, timeout_s=0.5, retries=0) as client:
            with pytest.raises(ServiceTimeout):
                client.call("whoami")
        keys.trust("reader-test", keys.load_identity(tmp_path).public.decode(), role="read",
                   directory=owner_dir)
        with Client(service.endpoint, timeout_s=3, retries=0) as client:
            assert client.call("whoami") == ["reader-test", "read"]
            with pytest.raises(PermissionDenied, match="'poke' needs an admin key"):
                client.call("poke")
    finally:
        if (keys.authorized_dir(owner_dir) / "reader-test.key").exists():
            keys.revoke("reader-test", owner_dir)
        service.close()


def test_one_service_on_tcp_and_ipc_knows_the_key_on_tcp_only(short_dir):
    """User-Id is asked only of sockets bound as CURVE servers; ipc callers are the owner."""
    service = Service("tcp://127.0.0.1:*", name="both")
    ipc = bind(service.socket, f"ipc://{short_dir}/both.sock")  # plain, on the same socket
    service.add("whoami", lambda request: [request.user_id, request.role], role="read")
    service.start()
    plain = Service(f"ipc://{short_dir}/plain.sock", name="plain")
    plain.add("whoami", lambda request: [request.user_id, request.role], role="read")
    plain.start()
    try:
        with Client(service.endpoint, timeout_s=3, retries=0) as client:
            assert client.call("whoami") == ["owner", "admin"]
        with Client(ipc, timeout_s=3, retries=0) as client:
            assert client.call("whoami") == [None, "admin"]
        with Client(plain.endpoint, timeout_s=3, retries=0) as client:
            assert client.call("whoami") == [None, "admin"]
    finally:
        service.close()
        plain.close()
