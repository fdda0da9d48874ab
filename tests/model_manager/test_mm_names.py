"""Models by name and version (Triton's addressing), delete_model, config and server metadata."""
from __future__ import annotations

import os

import numpy as np
import pytest

import onnx_fixtures
from edge.errors import InvalidArgument, NotFound
from nodes.model_manager.naming import version_key

pytestmark = pytest.mark.timeout(60)


def test_version_key_compares_numbers_as_numbers():
    assert version_key("10") > version_key("9") > version_key("")
    assert version_key("1.10.0") > version_key("1.9.3")


def test_a_name_means_its_newest_version(manager, add_matmul_bytes, fixed_bytes, mixed_bytes):
    v9 = manager.upload_model(add_matmul_bytes, {"name": "det", "version": "9"})
    v10 = manager.upload_model(fixed_bytes, {"name": "det", "version": "10"})
    other = manager.upload_model(mixed_bytes, {"name": "other"})
    assert manager.resolve_model("det") == v10
    assert manager.resolve_model("det", "9") == v9
    assert manager.resolve_model("other") == other
    assert manager.resolve_model(other) == other  # a uid names itself
    with pytest.raises(NotFound, match="known names: det, other"):
        manager.resolve_model("nope")
    with pytest.raises(NotFound):
        manager.resolve_model("det", "11")
    with pytest.raises(InvalidArgument):
        manager.resolve_model("")


def test_same_version_means_the_latest_stored(manager, add_matmul_bytes, fixed_bytes):
    first = manager.upload_model(add_matmul_bytes, {"name": "m"})
    second = manager.upload_model(fixed_bytes, {"name": "m"})
    path = manager.repo_dir / "models" / f"{first}.onnx"
    later = manager.repo_dir / "models" / f"{second}.onnx"
    os.utime(path, ns=(later.stat().st_mtime_ns + 10**9,) * 2)
    assert manager.resolve_model("m") == first


def test_delete_model_unloads_and_forgets(manager, add_matmul_bytes):
    uid = manager.upload_model(add_matmul_bytes, {"name": "am"})
    manager.load_models([uid])
    manager.delete_model(uid)
    assert manager.get_models_info() == [] and not manager.is_model_ready(uid)
    assert not (manager.repo_dir / "models" / f"{uid}.onnx").exists()
    assert manager.get_model_repository_index() == []
    with pytest.raises(NotFound):
        manager.delete_model(uid)
    assert manager.upload_model(add_matmul_bytes) == uid  # can come back


def test_model_config_and_server_metadata(manager, add_matmul_bytes):
    uid = manager.upload_model(add_matmul_bytes, {"name": "am", "version": "3"})
    assert manager.get_model_config(uid)["loaded"] is False
    manager.load_models([uid], config={"max_batch_size": 8})
    config = manager.get_model_config(uid)
    assert config["config"]["max_batch_size"] == 8 and config["batchable"]
    assert (config["name"], config["version"], config["loaded"]) == ("am", "3", True)
    meta = manager.get_server_metadata()
    assert meta["name"] and meta["version"] and meta["extensions"] == []


def test_names_over_zeromq(client, add_matmul_bytes, fixed_bytes):
    old = client.upload_model(add_matmul_bytes, {"name": "am", "version": "1"})
    new = client.upload_model(onnx_fixtures.add_matmul_model(), {"name": "x"})
    assert new == old  # same bytes: the first metadata stays
    fixed = client.upload_model(fixed_bytes, {"name": "fixed", "version": "2"})
    client.load_models(["am", "fixed"])
    assert client.is_model_ready("am") and client.is_model_ready("fixed", "2")
    a = np.ones((1, 3), np.float32)
    assert client.forward("am", {"a": a, "b": a})["sum"].tolist() == [[2, 2, 2]]
    assert client.get_model_metadata("fixed").uid == fixed
    assert client.get_model_config("fixed", "2")["uid"] == fixed
    assert client.call("live") == {"live": True}  # an old name, answered for one release
    assert client.get_server_metadata()["name"] == "edge-runtime model manager"
    client.delete_model("fixed")
    with pytest.raises(NotFound):
        client.forward("fixed", {"x": np.ones((2, 3), np.float32)})
