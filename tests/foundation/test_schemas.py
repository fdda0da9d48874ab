"""Typed messages check themselves when built and when decoded."""
import numpy as np
import pytest

from messages import (Classification, DecodeError, Detections, Dim, Image, ModelInfo, ModelMetadata,
                      SchemaError, Stats, StreamMessage, TensorMap, TensorSpec, Text, new_encoder)


def roundtrip(value):
    return StreamMessage.from_frames(StreamMessage("t", value).to_frames(new_encoder())).value


def test_image_roundtrip_and_checks():
    image = Image(np.zeros((4, 6, 3), np.uint8), "rgb8", frame_id=7)
    out = roundtrip(image)
    assert isinstance(out, Image) and out.encoding == "rgb8" and out.frame_id == 7
    assert out.data.shape == (4, 6, 3) and (out.width, out.height) == (6, 4)
    with pytest.raises(SchemaError, match="must be uint8"):
        Image(np.zeros((4, 6, 3), np.float32))
    with pytest.raises(SchemaError, match="unknown image encoding 'yuv'"):
        Image(np.zeros((4, 6, 3), np.uint8), "yuv")
    with pytest.raises(SchemaError, match="mono8 image needs 1 channel"):
        Image(np.zeros((4, 6, 3), np.uint8), "mono8")


def test_detections_text_classification():
    boxes = np.array([[0, 0, 5, 5], [1, 1, 4, 4]], np.float32)
    det = roundtrip(Detections(boxes, np.array([0.9, 0.5], np.float32), np.array([1, 2], np.int32),
                               labels=["a", "b"], polygons=np.zeros((2, 4, 2), np.float32), frame_id=3))
    assert det.labels == ["a", "b"] and det.polygons.shape == (2, 4, 2)
    text = roundtrip(Text(["hi", "there"], boxes, scores=np.array([1, 1], np.float32)))
    assert text.strings == ["hi", "there"]
    cls = roundtrip(Classification(np.array([3], np.int32), np.array([0.7], np.float32), ["cat"]))
    assert cls.labels == ["cat"]
    with pytest.raises(SchemaError, match="strings has 1 rows, boxes have 2"):
        Text(["only one"], boxes)
    with pytest.raises(SchemaError, match=r"boxes must be N x 4"):
        Detections(np.zeros((2, 3), np.float32), np.zeros(2, np.float32), np.zeros(2, np.int32))


def test_tensor_spec_checks_arrays():
    spec = TensorSpec("x", "float32", [Dim(None, "batch", True), Dim(3), Dim(None, "width", True)])
    assert spec.check(np.zeros((2, 3, 9), np.float32)) is None
    assert "expected dtype float32, got float64" in spec.check(np.zeros((2, 3, 9)))
    assert "expected rank 3 [batch, 3, width], got shape [3, 9]" in spec.check(np.zeros((3, 9), np.float32))
    assert "dim 1 must be 3" in spec.check(np.zeros((1, 4, 9), np.float32))
    assert TensorSpec("y", "int64", None).check(np.zeros(5, np.int64)) is None
    with pytest.raises(SchemaError, match="unsupported dtype 'object'"):
        TensorSpec("x", "object")


def test_model_info_and_stats_nested():
    info = ModelInfo("abc", ModelMetadata(name="m", version="1"),
                     [TensorSpec("x", "float32", [Dim(None, "batch", True), Dim(4)])], [], loaded=True)
    wire = info.to_wire()
    back = ModelInfo.from_wire(wire)
    assert back == info and back.input_specs[0].shape[0].name == "batch"
    assert roundtrip(TensorMap({"a": np.ones(2)})).tensors["a"].tolist() == [1, 1]
    assert roundtrip(Stats("cam", {"fps": 29.5, "drops": 3})).values == {"fps": 29.5, "drops": 3}
    with pytest.raises(SchemaError, match="stats value 'fps' must be a number"):
        Stats("cam", {"fps": "fast"})
    with pytest.raises(DecodeError, match="metadata must be a map"):
        ModelInfo.from_wire({**wire, "metadata": 5})
