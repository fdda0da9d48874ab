import numpy as np
import pytest

from nodes.inference.postprocess import raw_tensors, softmax, softmax_topk
from nodes.inference.preprocess import ImagePreprocess, normalize

pytestmark = pytest.mark.timeout(10)


def _image(h=100, w=200) -> np.ndarray:
    image = np.zeros((h, w, 3), dtype=np.uint8)
    image[..., 0], image[..., 2] = 255, 10   # strong blue, weak red (BGR)
    return image


def test_letterbox_keeps_aspect_and_maps_points_back():
    pre = ImagePreprocess(size=(64, 64), pad_align="center", pad_value=0)
    tensor, box = pre(_image())
    assert tensor.shape == (1, 3, 64, 64) and tensor.dtype == np.float32
    assert (box.scale_x, box.offset_x, box.offset_y) == (0.32, 0, 16)
    assert tensor[0, 0, :16].max() == 0 and tensor[0, 0, 16:48].min() == 1.0
    np.testing.assert_allclose(box.to_source(np.array([[64, 48]])), [[200, 100]])


def test_stretch_rgb_nhwc_and_mean_std():
    pre = ImagePreprocess(size=(10, 20), keep_aspect=False, channel_order="rgb",
                          layout="nhwc", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    tensor, _ = pre(_image())
    assert tensor.shape == (1, 10, 20, 3)
    np.testing.assert_allclose(tensor[0, 0, 0], [10 / 127.5 - 1, -1, 1], atol=1e-6)


def test_from_input_shape_reads_layout_and_static_size():
    assert ImagePreprocess.from_input_shape([1, 3, 224, 224]).size == (224, 224)
    nhwc = ImagePreprocess.from_input_shape(["N", 320, 320, 3])
    assert (nhwc.layout, nhwc.size) == ("nhwc", (320, 320))
    dynamic = ImagePreprocess.from_input_shape(["N", 3, "H", "W"], channel_order="rgb")
    assert (dynamic.layout, dynamic.size, dynamic.channel_order) == ("nchw", None, "rgb")


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="layout must be one of nchw, nhwc"):
        ImagePreprocess(layout="chw")
    with pytest.raises(ValueError, match="std non-zero"):
        ImagePreprocess(std=(1, 0, 1))


def test_normalize_matches_formula():
    image = np.array([[[0, 128, 255]]], np.uint8)
    out = normalize(image, 1 / 255, (0.1, 0.2, 0.3), (0.5, 0.5, 0.5), "bgr", "nchw")
    np.testing.assert_allclose(out.ravel(), [(0 - 0.1) / 0.5, (128 / 255 - 0.2) / 0.5,
                                             (1 - 0.3) / 0.5], rtol=1e-6)


def test_softmax_topk():
    logits = np.array([[1.0, 3.0, 2.0, 10.0], [5.0, 0.0, 0.0, 0.0]])
    top = softmax_topk(logits, k=2, labels=["a", "b", "c", "d"])
    assert [t.index for t in top[0]] == [3, 1] and top[0][0].label == "d"
    assert top[1][0].index == 0 and top[1][0].score == pytest.approx(float(softmax(logits)[1, 0]))
    np.testing.assert_allclose(softmax(np.array([1000.0, 1000.0])), [0.5, 0.5])  # no overflow
    probs = softmax_topk(np.array([0.1, 0.7, 0.2]), k=5, apply_softmax=False)
    assert [(t.index, round(t.score, 3), t.label) for t in probs[0]] == \
        [(1, 0.7, None), (2, 0.2, None), (0, 0.1, None)]


def test_raw_tensors_pairs_names():
    out = raw_tensors(["x", "y"], [np.zeros(2), np.ones(3)])
    assert list(out) == ["x", "y"] and out["y"].shape == (3,)
    with pytest.raises(ValueError, match="2 outputs for 1 names"):
        raw_tensors(["x"], [np.zeros(2), np.ones(3)])
