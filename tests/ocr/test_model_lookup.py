import subprocess
import sys

import pytest

from edge.errors import EdgeError, FailedPrecondition, InvalidArgument, NotFound
from nodes.inference import models
from nodes.inference.models import BundledModel, load_session, resolve_model

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("alias, name", [("ppocr-det", "ch_PP-OCRv4_det_infer.onnx"),
                                         ("ppocr-rec", "ch_PP-OCRv4_rec_infer.onnx")])
def test_aliases_point_into_the_wheel(alias, name):
    path = resolve_model(alias)
    assert path.name == name and path.is_file() and path.stat().st_size > 1_000_000


def test_resolving_does_not_import_the_wheel():
    code = ("import sys; from nodes.inference.models import resolve_model; "
            "resolve_model('ppocr-det'); resolve_model('ppocr-rec'); "
            "print('rapidocr_onnxruntime' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=20, check=True)
    assert out.stdout.strip() == "False"


def test_missing_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setitem(models.BUNDLED_MODELS, "ppocr-det",
                        BundledModel("no_such_package_for_edge_tests", "models/x.onnx",
                                     "rapidocr-onnxruntime"))
    with pytest.raises(FailedPrecondition, match=r"pip install 'edge-runtime\[demo\]'") as info:
        resolve_model("ppocr-det")
    assert info.value.code == "FAILED_PRECONDITION"


def _message(info: pytest.ExceptionInfo) -> str:
    assert isinstance(info.value, EdgeError)
    return info.value.message


def test_wrong_model_path_is_named(tmp_path):
    with pytest.raises(NotFound) as info:
        load_session(tmp_path / "det.onnx")
    assert _message(info).startswith(f"model file not found: {tmp_path}/det.onnx")
    assert info.value.code == "NOT_FOUND"
    with pytest.raises(InvalidArgument) as info:
        resolve_model(tmp_path)
    assert _message(info) == f"model path is not a file: {tmp_path}"


def test_unloadable_model_is_named(tmp_path):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"\x00not a model" * 100)
    with pytest.raises(InvalidArgument) as info:
        load_session(path)
    assert _message(info).startswith(f"{path} is not an ONNX model: ")
    assert "\n" not in str(info.value) and info.value.code == "INVALID_ARGUMENT"


def test_session_thread_options_are_applied():
    session = load_session("ppocr-det", intra_op_threads=1, inter_op_threads=1)
    options = session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
