"""The runtime dir is private like $XDG_RUNTIME_DIR: nobody else can squat its sockets."""
import os
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import zmq

from edge.endpoints import ipc_listening, runtime_dir
from edge.errors import ConfigError
from own_time import OwnTime


@pytest.fixture
def tmp_base(monkeypatch, short_dir):
    """No explicit runtime dir: the per-user one under a temp dir of the test's own."""
    monkeypatch.delenv("EDGE_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", short_dir)
    return Path(short_dir)


def test_created_per_user_with_mode_0700(tmp_base):
    path = runtime_dir()
    assert path == tmp_base / f"edge-{os.getuid()}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_xdg_runtime_dir_is_used_when_set(tmp_base, monkeypatch):
    xdg = tmp_base / "xdg"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    assert runtime_dir() == xdg / "edge"
    assert stat.S_IMODE((xdg / "edge").stat().st_mode) == 0o700


def test_a_dir_others_can_write_is_refused_in_one_line(tmp_base):
    squatted = tmp_base / f"edge-{os.getuid()}"
    squatted.mkdir()
    squatted.chmod(0o777)
    with pytest.raises(ConfigError, match="mode 0777: group or others can write it") as info:
        runtime_dir()  # main: returned it
    assert "\n" not in str(info.value)


@pytest.mark.skipif(os.getuid() != 0, reason="giving a directory to another user needs root")
def test_a_dir_of_another_user_is_refused(tmp_base):
    squatted = tmp_base / f"edge-{os.getuid()}"
    squatted.mkdir(mode=0o700)
    os.chown(squatted, 65534, 65534)
    with pytest.raises(ConfigError, match="belongs to uid 65534"):
        runtime_dir()


def test_a_symlink_in_the_shared_temp_dir_is_refused(tmp_base):
    target = tmp_base / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_base / f"edge-{os.getuid()}").symlink_to(target)
    with pytest.raises(ConfigError, match="symbolic link"):
        runtime_dir()


@pytest.mark.timeout(60)
def test_the_cli_refuses_to_talk_to_a_squatted_control_socket(short_dir):
    squatted = Path(short_dir) / f"edge-{os.getuid()}"
    squatted.mkdir()
    squatted.chmod(0o777)  # as another local user would leave it
    impostor = zmq.Context.instance().socket(zmq.ROUTER)
    impostor.setsockopt(zmq.LINGER, 0)
    impostor.bind(f"ipc://{squatted}/control.sock")
    env = {k: v for k, v in os.environ.items() if k not in ("EDGE_RUNTIME_DIR", "XDG_RUNTIME_DIR")}
    env["TMPDIR"] = short_dir
    edge = Path(sys.executable).with_name("edge")
    try:
        done = subprocess.run([str(edge), "nodes"], env=env, capture_output=True, text=True,
                              timeout=30)
        heard = impostor.poll(100)
    finally:
        impostor.close()
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "group or others can write it" in done.stderr
    assert not heard  # main: `edge nodes` sent its request to the impostor


def test_stale_socket_files_are_told_apart_at_once(short_dir):
    stale = Path(short_dir) / "stale.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(stale))
    dead.close()  # the file stays, as after kill -9
    live = zmq.Context.instance().socket(zmq.ROUTER)
    live.setsockopt(zmq.LINGER, 0)
    live.bind(f"ipc://{short_dir}/live.sock")
    try:
        with OwnTime() as timed:
            assert ipc_listening(f"ipc://{stale}") is False
            assert ipc_listening(f"ipc://{short_dir}/missing.sock") is False
            assert ipc_listening(f"ipc://{short_dir}/live.sock") is True
            assert ipc_listening("tcp://127.0.0.1:1") is True  # other transports: cannot tell
        assert timed.elapsed_s < 0.5
    finally:
        live.close()
