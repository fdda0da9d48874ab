"""Any method with any body: the model manager answers it or refuses it with a clear code,
never with INTERNAL (an exception nobody expected), and keeps serving.

Each body starts as a valid one for its method (the loaded model's uid, its real inputs,
a real upload), then hypothesis replaces, drops or adds a few of its keys, or of its
inputs, with values of every wire type: arrays of any dtype and shape, strings, numbers,
lists, maps. Shallow garbage (a non-map body, unknown keys) is in the mix too.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import onnx_fixtures
from edge import Client, Service
from edge.errors import EdgeError
from nodes.model_manager.service import ModelService

KEYS = ["uid", "uids", "name", "version", "inputs", "model_data", "metadata", "config",
        "upload_id", "offset", "data", "total_bytes", "sha256", "task_id", "timeout_ms"]
DTYPES = ["float32", "float64", "int64", "uint8", "bool", "complex64", ">f4"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1),
                    st.floats(allow_nan=True), st.text(max_size=12), st.binary(max_size=12))
arrays = hnp.arrays(st.sampled_from(DTYPES), hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))


@pytest.fixture(scope="module")
def served(loaded_manager):
    """(client, manager, the loaded model's uid, the method names); all closed after."""
    manager, uid = loaded_manager
    root = tempfile.mkdtemp(prefix="mm-hostile-")  # short: an ipc path has room for ~100
    models = ModelService(manager)
    service = Service(f"ipc://{root}/mm.sock", name="mm")
    models.attach(service.add)
    service.start()
    client = Client(service.endpoint, timeout_s=10, retries=0)
    yield client, manager, uid, client.call("methods")
    client.close()
    service.close()
    models.close()
    shutil.rmtree(root, ignore_errors=True)


def valid_bodies(uid: str) -> dict:
    """What each method accepts, for the loaded add_matmul model (a, b: float32 [batch, 3])."""
    model = onnx_fixtures.add_matmul_model()
    row = np.ones((1, 3), np.float32)
    return {"forward": {"uid": uid, "inputs": {"a": row, "b": row}},
            "async_request": {"name": "add_matmul", "inputs": {"a": row, "b": row},
                              "timeout_ms": 1000},
            "get_async_response": {"task_id": "0" * 32},
            "upload_model": {"model_data": model, "metadata": {"name": "add_matmul"}},
            "begin_upload": {"total_bytes": len(model), "sha256": hashlib.sha256(model).hexdigest(),
                             "metadata": {"name": "x"}},
            "upload_chunk": {"upload_id": "0" * 32, "offset": 0, "data": model[:64]},
            "load_models": {"uids": [uid], "config": {"max_batch_size": 4}},
            "unload_models": {"uids": [uid]}, "get_inference_statistics": {"uids": [uid]},
            "get_models_info": {"uids": [uid]}, "is_model_ready": {"uid": uid},
            "get_model_metadata": {"name": "add_matmul", "version": "1"}}


def bodies(uid: str, method: str):
    names = st.sampled_from([uid, uid[:8], "add_matmul", "", "../../etc/passwd", "a" * 300])
    values = st.one_of(scalars, names, arrays, st.lists(st.one_of(scalars, names), max_size=3),
                       st.dictionaries(st.sampled_from(["a", "b", "x", ""]),
                                       st.one_of(arrays, scalars), max_size=3))
    base = valid_bodies(uid).get(method, {"uid": uid})

    def mutated(changes: list) -> dict:
        body = {**base, "inputs": dict(base["inputs"])} if "inputs" in base else dict(base)
        for where, key, value in changes:
            inputs = body.get("inputs")
            target = inputs if where == "inputs" and isinstance(inputs, dict) else body
            if value is _DROP:
                target.pop(key, None)
            else:
                target[key] = value
        return body

    change = st.tuples(st.sampled_from(["body", "inputs"]),
                       st.sampled_from(KEYS + ["a", "b", "c"]),
                       st.one_of(st.just(_DROP), values))
    return st.one_of(st.lists(change, max_size=3).map(mutated),
                     st.dictionaries(st.sampled_from(KEYS), values, max_size=4),
                     scalars, st.lists(scalars, max_size=2))


_DROP = object()


@pytest.mark.timeout(300)
@given(data=st.data())
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_body_gets_an_answer_or_a_clear_refusal(served, data):
    client, manager, uid, methods = served
    method = data.draw(st.sampled_from(methods))
    body = data.draw(bodies(uid, method))
    try:
        client.call(method, body)
    except EdgeError as exc:
        assert exc.code != "INTERNAL", f"{method}({body!r}): {exc}"
    assert client.call("is_server_live") == {"live": True}
    if not manager.is_model_ready(uid):  # unloaded or deleted: back for the next example
        manager.upload_model(onnx_fixtures.add_matmul_model())
        manager.load_models([uid])
