"""Uploading models: validation before acceptance, storage layout, chunked uploads."""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from nodes.model_manager.specs import ModelMetadata
from nodes.model_manager.uploads import UploadArea

pytestmark = pytest.mark.timeout(60)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_uid_is_sha256_and_upload_is_idempotent(manager, repo_dir, add_matmul_bytes):
    uid = manager.upload_model(add_matmul_bytes, {"name": "am", "version": "1"})
    assert uid == sha(add_matmul_bytes)
    assert manager.upload_model(add_matmul_bytes, {"name": "other"}) == uid
    infos = manager.get_models_info()
    assert [i.uid for i in infos] == [uid]
    assert infos[0].metadata.name == "am" and infos[0].metadata.version == "1"
    assert (repo_dir / "models" / f"{uid}.onnx").read_bytes() == add_matmul_bytes
    assert files_under(repo_dir) == {f"models/{uid}.onnx", f"models/{uid}.json"}


@pytest.mark.parametrize("data", [b"", b"definitely not an onnx model", bytes(range(256)) * 8])
def test_non_onnx_bytes_are_invalid(manager, data):
    with pytest.raises(InvalidArgument) as err:
        manager.upload_model(data)
    assert err.value.code == "INVALID_ARGUMENT"
    assert "onnx" in str(err.value).lower() or "empty" in str(err.value)
    assert manager.get_models_info() == []


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_models_are_invalid(manager, repo_dir, ppocr_bytes, fraction):
    with pytest.raises(InvalidArgument):
        manager.upload_model(ppocr_bytes[: int(len(ppocr_bytes) * fraction)])
    assert manager.get_models_info() == []
    assert files_under(repo_dir / "models") == set()


def test_model_data_must_be_bytes(manager):
    with pytest.raises(InvalidArgument, match="bytes"):
        manager.upload_model("a string")


def test_oversized_model_is_resource_exhausted(make_manager, add_matmul_bytes):
    manager = make_manager(max_model_bytes=len(add_matmul_bytes) - 1)
    with pytest.raises(ResourceExhausted) as err:
        manager.upload_model(add_matmul_bytes)
    assert err.value.code == "RESOURCE_EXHAUSTED"
    assert "max_model_bytes" in str(err.value)


@pytest.mark.parametrize("metadata, key", [
    ({"name": 3}, "name"), ({"version": 1.5}, "version"), ({"author": ["x"]}, "author"),
    ({"description": b"bytes"}, "description"), ({"colour": "red"}, "colour")])
def test_bad_metadata_names_the_key(manager, add_matmul_bytes, metadata, key):
    with pytest.raises(InvalidArgument) as err:
        manager.upload_model(add_matmul_bytes, metadata)
    assert key in str(err.value)
    assert err.value.details["key"] == key


def test_metadata_must_be_a_map(manager, add_matmul_bytes):
    with pytest.raises(InvalidArgument, match="map"):
        manager.upload_model(add_matmul_bytes, ["name", "x"])


@pytest.mark.parametrize("name", ["bad\x00name", "new\nline", "tab\there", "bell\x07",
                                  "rtl\u202eoverride"])
def test_unprintable_names_are_rejected(manager, add_matmul_bytes, name):
    with pytest.raises(InvalidArgument, match="printable"):
        manager.upload_model(add_matmul_bytes, {"name": name})


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/path", "a/b\\c", "..", "CON"])
def test_hostile_names_never_reach_the_filesystem(manager, repo_dir, tmp_path,
                                                  add_matmul_bytes, name):
    before = files_under(tmp_path)
    uid = manager.upload_model(add_matmul_bytes, {"name": name})
    created = files_under(tmp_path) - before
    assert created == {f"repo/models/{uid}.onnx", f"repo/models/{uid}.json"}
    assert manager.get_models_info([uid])[0].metadata.name == name


def test_overlong_name_is_rejected(manager, add_matmul_bytes):
    with pytest.raises(InvalidArgument, match="name"):
        manager.upload_model(add_matmul_bytes, {"name": "x" * 10_000})


def chunked(manager, data: bytes, chunk: int, metadata=None) -> str:
    upload_id = manager.begin_upload(len(data), sha(data), metadata)
    for offset in range(0, len(data), chunk):
        manager.upload_chunk(upload_id, offset, data[offset:offset + chunk])
    return manager.finish_upload(upload_id)


def test_chunked_upload_stores_the_model(manager, repo_dir, ppocr_bytes):
    uid = chunked(manager, ppocr_bytes, 1 << 20, {"name": "det"})
    assert uid == sha(ppocr_bytes)
    assert (repo_dir / "models" / f"{uid}.onnx").read_bytes() == ppocr_bytes
    assert os.listdir(repo_dir / "uploads") == []
    assert manager.get_models_info([uid])[0].metadata.name == "det"


def test_chunks_may_be_retried_and_arrive_out_of_order(manager, add_matmul_bytes):
    data = add_matmul_bytes
    upload_id = manager.begin_upload(len(data), sha(data))
    offsets = list(range(0, len(data), 50))
    for offset in reversed(offsets):
        manager.upload_chunk(upload_id, offset, data[offset:offset + 50])
    assert manager.upload_chunk(upload_id, 0, data[:50]) == len(data)  # a retry
    assert manager.finish_upload(upload_id) == sha(data)


def test_partial_upload_is_invisible_and_finish_reports_the_gap(manager, add_matmul_bytes):
    data = add_matmul_bytes
    upload_id = manager.begin_upload(len(data), sha(data))
    manager.upload_chunk(upload_id, 0, data[:100])
    assert manager.get_models_info() == [] and manager.get_model_repository_index() == []
    with pytest.raises(FailedPrecondition, match="offset 100"):
        manager.finish_upload(upload_id)
    manager.upload_chunk(upload_id, 100, data[100:])  # still open: the client can resume
    assert manager.finish_upload(upload_id) == sha(data)


def test_chunked_upload_hash_mismatch_discards(manager, add_matmul_bytes):
    data = add_matmul_bytes
    upload_id = manager.begin_upload(len(data), sha(data))
    manager.upload_chunk(upload_id, 0, data[:-1] + bytes([data[-1] ^ 0xFF]))
    with pytest.raises(InvalidArgument, match="sha256 mismatch"):
        manager.finish_upload(upload_id)
    with pytest.raises(NotFound):
        manager.upload_chunk(upload_id, 0, data)
    assert manager.get_models_info() == []


def test_chunked_upload_of_non_onnx_is_invalid(manager, repo_dir):
    data = b"not a model at all" * 10
    with pytest.raises(InvalidArgument, match="ONNX"):
        chunked(manager, data, 64)
    assert files_under(repo_dir) == set()


def test_chunked_upload_argument_errors(make_manager, add_matmul_bytes):
    manager = make_manager(max_model_bytes=1000, max_uploads=1)
    data = add_matmul_bytes
    with pytest.raises(ResourceExhausted):
        manager.begin_upload(1001, sha(data))
    for total in (0, -5, "12", True):
        with pytest.raises(InvalidArgument):
            manager.begin_upload(total, sha(data))
    with pytest.raises(InvalidArgument, match="sha256"):
        manager.begin_upload(len(data), "abc")
    with pytest.raises(InvalidArgument, match="metadata.name"):
        manager.begin_upload(len(data), sha(data), {"name": 7})
    upload_id = manager.begin_upload(len(data), sha(data))
    with pytest.raises(ResourceExhausted, match="max_uploads"):
        manager.begin_upload(len(data), sha(data))
    with pytest.raises(InvalidArgument, match="past total_bytes"):
        manager.upload_chunk(upload_id, len(data) - 1, b"xy")
    with pytest.raises(InvalidArgument, match="offset"):
        manager.upload_chunk(upload_id, -1, b"x")
    with pytest.raises(InvalidArgument, match="bytes"):
        manager.upload_chunk(upload_id, 0, "text")
    with pytest.raises(NotFound):
        manager.upload_chunk("no-such-upload", 0, b"x")
    with pytest.raises(NotFound):
        manager.finish_upload("no-such-upload")
    manager.abort_upload(upload_id)
    with pytest.raises(NotFound):
        manager.finish_upload(upload_id)
    manager.begin_upload(len(data), sha(data))  # the slot was freed


def test_concurrent_uploads_of_one_model_store_it_once(manager, repo_dir, add_matmul_bytes):
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(
        manager.upload_model(add_matmul_bytes))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [sha(add_matmul_bytes)] * 6
    assert files_under(repo_dir / "models") == {f"{results[0]}.onnx", f"{results[0]}.json"}


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=1, max_size=300), cuts=st.lists(st.integers(0, 300)),
       order=st.randoms(use_true_random=False), repeats=st.integers(0, 3))
def test_any_chunking_order_and_retries_reassemble_the_bytes(data, cuts, order, repeats):
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    chunks = list(zip(bounds, bounds[1:]))
    chunks += chunks[:repeats]
    order.shuffle(chunks)
    with tempfile.TemporaryDirectory() as tmp:
        area = UploadArea(Path(tmp) / "uploads", max_bytes=1000, max_uploads=1, ttl_s=60)
        upload_id = area.begin(len(data), sha(data), ModelMetadata())
        for start, end in chunks:
            area.write(upload_id, start, data[start:end])
        upload = area.complete(upload_id)
        assert upload.path.read_bytes() == data
