"""A model must not make the manager read files: external data and file-naming nodes are
refused at upload, with a clear INVALID_ARGUMENT, and nothing reaches the repository."""
from __future__ import annotations

import hashlib

import onnxruntime as ort
import pytest

import onnx_fixtures
from edge.errors import InvalidArgument
from nodes.model_manager import ModelManager
from nodes.model_manager.repository import ModelRecord, Repository
from nodes.model_manager.specs import ModelMetadata, TensorSpec

pytestmark = pytest.mark.timeout(60)

PASSWD = "../../../../etc/passwd"


def test_the_attack_model_reads_a_file_when_nothing_refuses_it(tmp_path, monkeypatch):
    """Proof the refusals below refuse something real: plain onnxruntime, loading the bytes,
    resolves `location` against the working directory and returns the file's bytes."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_bytes(b"secret notes of the model manager")
    session = ort.InferenceSession(onnx_fixtures.external_data_model("notes.txt"),
                                   providers=["CPUExecutionProvider"])
    assert bytes(session.run(None, {})[0]) == b"secret notes of the model manager"[:16]


@pytest.mark.parametrize("location", [PASSWD, "/etc/passwd", "notes.txt"])
def test_upload_refuses_external_data(manager, repo_dir, tmp_path, monkeypatch, location):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_bytes(b"secret notes of the model manager")
    with pytest.raises(InvalidArgument) as err:
        manager.upload_model(onnx_fixtures.external_data_model(location))
    assert err.value.message == (
        f"model data: tensor 'secret' keeps its data in an external file ({location!r}); "
        "models must be self-contained (onnx.save with save_as_external_data=False)")
    assert err.value.details == {"tensor": "secret", "location": location}
    assert manager.get_models_info() == []


@pytest.mark.parametrize("build", [onnx_fixtures.external_constant_model,
                                   onnx_fixtures.external_subgraph_model,
                                   onnx_fixtures.ep_context_model])
def test_upload_refuses_files_named_anywhere_in_the_model(manager, build):
    with pytest.raises(InvalidArgument, match="models must be self-contained"):
        manager.upload_model(build(PASSWD))
    assert manager.get_models_info() == []


def test_chunked_upload_is_refused_and_leaves_no_file(manager, repo_dir):
    data = onnx_fixtures.external_data_model(PASSWD)
    upload_id = manager.begin_upload(len(data), hashlib.sha256(data).hexdigest())
    manager.upload_chunk(upload_id, 0, data)
    with pytest.raises(InvalidArgument, match="keeps its data in an external file"):
        manager.finish_upload(upload_id)
    assert manager.get_models_info() == []
    assert [p for p in repo_dir.rglob("*") if p.is_file() and p.suffix == ".onnx"] == []


def test_a_stored_model_from_before_the_rule_is_not_loaded(repo_dir):
    data = onnx_fixtures.external_data_model(PASSWD)
    uid = hashlib.sha256(data).hexdigest()
    Repository(repo_dir).store(ModelRecord(uid, ModelMetadata(name="old"), [],
                                           [TensorSpec("leak", "uint8", [])], len(data)), data)
    manager = ModelManager(repo_dir)
    try:
        with pytest.raises(InvalidArgument, match="keeps its data in an external file"):
            manager.load_models([uid])
        assert not manager.is_model_ready(uid)
    finally:
        manager.close(timeout_s=5.0)


def test_upload_over_the_wire_is_refused_in_one_line(client):
    with pytest.raises(InvalidArgument) as err:
        client.upload_model(onnx_fixtures.external_data_model(PASSWD))
    assert err.value.code == "INVALID_ARGUMENT" and "\n" not in err.value.message
    assert PASSWD in err.value.message
    assert client.get_model_repository_index() == []
