"""`edge model ...` end to end against a served subprocess, a large chunked upload,
and a server killed with -9 in the middle of one."""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import time

import numpy as np
import pytest
from click.testing import CliRunner

import onnx_fixtures
from edge.cli import main
from edge.errors import NotFound, ServiceTimeout
from nodes.model_manager.client import CHUNK_BYTES, ModelManagerClient

pytestmark = pytest.mark.timeout(120)


def edge(*args: str, ok: bool = True):
    result = CliRunner().invoke(main, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_upload_list_info_load_infer_stats_unload(server, tmp_path, mixed_bytes):
    model = tmp_path / "mixed.onnx"
    model.write_bytes(mixed_bytes)
    ep = ("--endpoint", server.endpoint)
    uid = edge("model", "upload", str(model), "--version", "3", "--author", "me", *ep)
    uid = uid.stdout.strip().splitlines()[-1]
    assert uid == hashlib.sha256(mixed_bytes).hexdigest()

    listing = edge("model", "list", *ep).stdout
    assert uid[:12] in listing and "mixed" in listing and "x: float32[batch, 4]" in listing
    info = edge("model", "info", uid[:8], *ep).stdout
    assert "author:      me" in info and "version:     3" in info
    assert any(line.split() == ["input", "ids", "int64", "[batch,", "seq]"]
               for line in info.splitlines())

    assert f"uid:         {uid}" in edge("model", "info", "mixed:3", *ep).stdout
    edge("model", "load", "mixed", *ep)
    x, ids = tmp_path / "x.npy", tmp_path / "ids.npy"
    np.save(x, np.full((2, 4), 1.5, np.float32))
    np.save(ids, np.arange(6, dtype=np.int64).reshape(2, 3))
    out = tmp_path / "out"
    result = edge("model", "infer", "mixed", "-i", f"x={x}", "--input", f"ids={ids}",
                  "--priority", "1", "--output-dir", str(out), *ep).stdout
    assert "scaled: float32 [2, 4] min 3 max 3 mean 3" in result
    np.testing.assert_array_equal(np.load(out / "next_ids.npy"),
                                  np.arange(1, 7).reshape(2, 3))
    stats = edge("model", "stats", *ep).stdout.splitlines()
    assert stats[0].split()[:3] == ["UID", "OK", "FAILED"]
    assert stats[1].split()[:4] == [uid[:12], "1", "0", "1"]
    edge("model", "unload", uid, *ep)
    assert "no " in edge("model", "list", *ep).stdout.splitlines()[1]
    assert edge("model", "delete", "mixed:3", *ep).stdout.strip() == f"deleted {uid}"
    assert "(no models)" in edge("model", "list", *ep).output


@pytest.mark.parametrize("args, message", [
    (["info", "ffff"], "NOT_FOUND: no model(s) named 'ffff' or with that uid prefix"),
    (["load", "0" * 64], "NOT_FOUND: no model with uid"),
    (["infer", "0" * 64, "-i", "x=/nonexistent.npy"], "/nonexistent.npy"),
])
def test_errors_are_one_line_and_exit_non_zero(server, args, message):
    result = edge("model", *args, "--endpoint", server.endpoint, ok=False)
    lines = result.output.strip().splitlines()
    assert result.exit_code != 0 and message in lines[-1] and "Traceback" not in result.output
    if "NOT_FOUND" in message:  # an EdgeError: one line, exit 1
        assert lines == [f"error: {lines[0][len('error: '):]}"] and result.exit_code == 1


@pytest.mark.parametrize("path, message", [("/dev/zero", "/dev/zero is not a regular file"),
                                           ("empty.onnx", "empty.onnx is empty")])
def test_upload_refuses_what_has_no_size_at_once(server, tmp_path, path, message):
    """/dev/zero used to be read until memory ran out; a model file is mapped, not read."""
    if path == "empty.onnx":
        path = tmp_path / path
        path.write_bytes(b"")
    result = edge("model", "upload", str(path), "--endpoint", server.endpoint, ok=False)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_upload_of_a_file_that_is_not_onnx_is_one_line(server, tmp_path):
    """The server's refusal, not the mapped file's cleanup (a view the error still held)."""
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(np.random.default_rng(1).bytes(100_000))
    result = edge("model", "upload", str(garbage), "--endpoint", server.endpoint, ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith(
        "error: INVALID_ARGUMENT: model data is not an ONNX model")


def test_no_server_is_a_clear_error(tmp_path):
    result = edge("model", "list", "--endpoint", f"ipc://{tmp_path}/none.sock",
                  "--timeout", "0.3", ok=False)
    assert result.exit_code == 1 and "UNAVAILABLE: no model manager at" in result.output
    assert "Traceback" not in result.output


def test_a_stale_socket_file_is_found_at_once(tmp_path):
    stale = tmp_path / "dead.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(stale))
    dead.close()  # the file a kill -9 leaves behind
    started = time.monotonic()
    result = edge("model", "list", "--endpoint", f"ipc://{stale}", ok=False)
    assert result.exit_code == 1 and "nothing listens there" in result.output
    assert time.monotonic() - started < 5  # main: 3 attempts x 10 s


def test_serve_exits_143_on_sigterm_and_removes_its_socket(server):
    path = server.endpoint[len("ipc://"):]
    assert os.path.exists(path)
    assert server.stop() == 128 + signal.SIGTERM
    assert not os.path.exists(path)


def test_serve_refuses_an_endpoint_or_repository_in_use(server, tmp_path):
    result = edge("model", "serve", "--repo", str(tmp_path / "other"), "--endpoint",
                  server.endpoint, ok=False)
    assert result.exit_code == 1 and "FAILED_PRECONDITION: something already serves" in result.output
    result = edge("model", "serve", "--repo", str(server.repo), "--endpoint",
                  f"ipc://{tmp_path}/other.sock", ok=False)
    assert result.exit_code == 1 and "is in use by another model manager" in result.output
    with ModelManagerClient(server.endpoint) as client:
        assert client.is_server_live()


def test_large_chunked_upload_through_the_cli(server, tmp_path, big_chain_bytes):
    model = tmp_path / "chain.onnx"
    model.write_bytes(big_chain_bytes)
    assert len(big_chain_bytes) > 30 << 20
    result = edge("model", "upload", str(model), "--name", "chain", "--endpoint", server.endpoint)
    uid = result.stdout.strip().splitlines()[-1]
    assert uid == hashlib.sha256(big_chain_bytes).hexdigest()
    assert "uploading chain.onnx" in result.stderr
    with ModelManagerClient(server.endpoint) as client:
        client.load_models([uid])
        x = np.random.default_rng(1).standard_normal((2, 1024)).astype(np.float32)
        np.testing.assert_allclose(client.forward(uid, {"x": x})["y"],
                                   onnx_fixtures.matmul_chain_reference(x, 1024, 8),
                                   rtol=1e-3, atol=1e-4)
        seen: list[int] = []
        client.upload_model(big_chain_bytes, progress=lambda done, total: seen.append(done))
        assert len(seen) == -(-len(big_chain_bytes) // CHUNK_BYTES) and seen[-1] == len(big_chain_bytes)


def test_kill_9_mid_chunked_upload_then_restart(start_server, tmp_path, add_matmul_bytes,
                                                 big_chain_bytes):
    server = start_server()
    with ModelManagerClient(server.endpoint, retries=0, admin_timeout_s=5.0) as client:
        small = client.upload_model(add_matmul_bytes, {"name": "small"})
        client.load_models([small])
        seen: list[int] = []

        def kill_halfway(done: int, total: int) -> None:
            seen.append(done)
            if done >= total // 2:
                assert server.kill9() == -signal.SIGKILL

        with pytest.raises(ServiceTimeout):  # the next chunk goes nowhere
            client.upload_model(big_chain_bytes, {"name": "big"}, chunk_bytes=1 << 20,
                                progress=kill_halfway)
        assert 0 < seen[-1] < len(big_chain_bytes)
    leftovers = list((server.repo / "uploads").iterdir())
    assert [p.stat().st_size for p in leftovers] == [len(big_chain_bytes)]  # the sparse part

    again = start_server(repo=server.repo)
    big = hashlib.sha256(big_chain_bytes).hexdigest()
    with ModelManagerClient(again.endpoint) as client:
        assert client.get_model_repository_index() == [
            {"uid": small, "name": "small", "state": "READY", "reason": ""}]
        assert client.is_model_ready(small)
        ones = np.ones((1, 3), np.float32)
        np.testing.assert_array_equal(client.forward(small, {"a": ones, "b": ones})["sum"], 2 * ones)
        with pytest.raises(NotFound):
            client.get_model_metadata(big)
        assert list((again.repo / "uploads").iterdir()) == []
        assert not any(big in p.name for p in again.repo.rglob("*"))
        assert client.upload_model(big_chain_bytes) == big  # a fresh upload works
