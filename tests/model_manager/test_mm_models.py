"""Model info, specs from the ONNX graph, load/unload, index and health."""
from __future__ import annotations

import json
import random

import pytest

import onnx_fixtures
from nodes.model_manager import Dim, ModelConfig, TensorSpec
from edge.errors import EdgeError, FailedPrecondition, InvalidArgument, NotFound

pytestmark = pytest.mark.timeout(60)


def test_specs_keep_symbolic_dim_names(manager, mixed_bytes):
    uid = manager.upload_model(mixed_bytes, {"name": "mixed"})
    info = manager.get_models_info([uid])[0]
    batch, seq = Dim(None, "batch", True), Dim(None, "seq", True)
    assert info.input_specs == [TensorSpec("x", "float32", [batch, Dim(4, None, False)]),
                                TensorSpec("ids", "int64", [batch, seq])]
    assert info.output_specs == [TensorSpec("scaled", "float32", [batch, Dim(4, None, False)]),
                                 TensorSpec("next_ids", "int64", [batch, seq])]
    assert info.loaded is False
    assert info.to_wire()["input_specs"][1]["shape"][1] == {"size": None, "name": "seq",
                                                            "dynamic": True}


def test_question_mark_and_empty_dims_are_dynamic_and_unnamed(manager):
    uid = manager.upload_model(onnx_fixtures.unnamed_dims_model())
    spec = manager.get_models_info([uid])[0].input_specs[0]
    assert spec.shape == [Dim(None, None, True), Dim(3, None, False), Dim(None, None, True)]


def test_a_dim_name_that_is_not_utf8_is_refused_clearly(manager, add_matmul_bytes):
    """protobuf hands such a name over as bytes; it used to escape as an INTERNAL error."""
    assert add_matmul_bytes.count(b"batch") >= 1
    with pytest.raises(InvalidArgument, match="tensor 'a': dim name must be a string"):
        manager.upload_model(add_matmul_bytes.replace(b"batch", b"batc\xb4"))


def test_mutated_models_are_refused_with_invalid_argument_only(add_matmul_bytes):
    """Bit flips and overwrites of a real model, as a corrupt upload would be: accepted or
    one EdgeError, never another exception (8000 locally: no crash of onnxruntime either)."""
    from nodes.model_manager.onnx_model import inspect_model

    rng = random.Random(7)
    for _ in range(300):
        data = bytearray(add_matmul_bytes)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[at] ^= 1 << rng.randrange(8)
            else:
                data[at] = rng.randrange(256)
        try:
            inspect_model(bytes(data))
        except EdgeError:
            pass


def test_ppocr_detector_dims(manager, ppocr_bytes):
    uid = manager.upload_model(ppocr_bytes, {"name": "ppocr-det"})
    info = manager.get_model_metadata(uid)
    (image,), (prob,) = info.input_specs, info.output_specs
    assert image.name == "x" and image.dtype == "float32"
    assert image.shape[1] == Dim(3, None, False)
    for dim in (image.shape[0], image.shape[2], image.shape[3], prob.shape[2]):
        assert dim.dynamic and dim.size is None and dim.name.startswith("p2o.DynamicDimension")
    assert prob.shape[1] == Dim(1, None, False)


def test_load_unload_and_readiness(manager, add_matmul_bytes, fixed_bytes, repo_dir):
    a = manager.upload_model(add_matmul_bytes, {"name": "a"})
    b = manager.upload_model(fixed_bytes, {"name": "b"})
    assert manager.is_server_live() and manager.is_server_ready()
    manager.load_models([a, b])
    manager.load_models([a])  # loading twice is a no-op
    assert manager.is_model_ready(a) and manager.is_model_ready(b)
    assert {i.uid: i.loaded for i in manager.get_models_info()} == {a: True, b: True}
    manager.unload_models([b])
    manager.unload_models([b])
    assert not manager.is_model_ready(b)
    assert set(json.loads((repo_dir / "loaded.json").read_text())["models"]) == {a}
    index = {e["uid"]: e for e in manager.get_model_repository_index()}
    assert index[a]["state"] == "READY" and index[a]["name"] == "a"
    assert index[b]["state"] == "UNAVAILABLE" and index[b]["reason"] == "not loaded"


def test_unknown_uids(manager, add_matmul_bytes):
    uid = manager.upload_model(add_matmul_bytes)
    missing = "0" * 64
    for call in (lambda: manager.load_models([uid, missing]),
                 lambda: manager.unload_models([missing]),
                 lambda: manager.get_models_info([missing]),
                 lambda: manager.get_inference_statistics([missing]),
                 lambda: manager.get_model_metadata("../../etc/passwd")):
        with pytest.raises(NotFound) as err:
            call()
        assert err.value.code == "NOT_FOUND"
    assert not manager.is_model_ready(uid), "a failed load_models must load nothing"
    assert manager.is_model_ready(missing) is False


@pytest.mark.parametrize("uids", ["abc", [1, 2], None, 5])
def test_uid_lists_are_checked(manager, uids):
    with pytest.raises(InvalidArgument):
        manager.load_models(uids)


def test_batching_config_is_validated(manager, fixed_bytes, add_matmul_bytes):
    fixed = manager.upload_model(fixed_bytes)
    with pytest.raises(InvalidArgument, match="cannot be batched"):
        manager.load_models([fixed], config={"max_batch_size": 4})
    uid = manager.upload_model(add_matmul_bytes)
    for bad, key in (({"max_batch_size": "8"}, "max_batch_size"),
                     ({"max_batch_size": 4, "preferred_batch_sizes": [8]},
                      "preferred_batch_sizes"),
                     ({"instance_count": 0}, "instance_count"),
                     ({"batch": 4}, "batch")):
        with pytest.raises(InvalidArgument) as err:
            manager.load_models([uid], config=bad)
        assert err.value.details["key"] == key
    assert not manager.is_model_ready(uid)


def test_reload_with_new_config_replaces_the_model(manager, add_matmul_bytes, repo_dir):
    uid = manager.upload_model(add_matmul_bytes)
    manager.load_models([uid])
    manager.load_models([uid], config=ModelConfig(max_batch_size=8, max_queue_delay_us=100))
    saved = json.loads((repo_dir / "loaded.json").read_text())["models"][uid]
    assert saved["max_batch_size"] == 8 and saved["max_queue_delay_us"] == 100


def test_closed_manager_is_not_live(make_manager, add_matmul_bytes):
    manager = make_manager()
    uid = manager.upload_model(add_matmul_bytes)
    manager.load_models([uid])
    manager.close()
    assert not manager.is_server_live() and not manager.is_server_ready()


def test_corrupt_model_is_failed_precondition(make_manager, repo_dir, add_matmul_bytes):
    manager = make_manager()
    uid = manager.upload_model(add_matmul_bytes)
    path = repo_dir / "models" / f"{uid}.onnx"
    path.write_bytes(path.read_bytes()[:-3])  # rots after the scan, before the load
    with pytest.raises(FailedPrecondition, match="corrupt"):
        manager.load_models([uid])
    with pytest.raises(FailedPrecondition):
        manager.get_models_info([uid])
    manager.upload_model(add_matmul_bytes)  # uploading the same bytes repairs it
    manager.load_models([uid])
    assert manager.is_model_ready(uid)
