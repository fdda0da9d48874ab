import numpy as np
import pytest

from edge.errors import InvalidArgument
from nodes.ocr.recognition import (charset_from_metadata, crop_quad, ctc_greedy_decode,
                                   plan_batches, rec_batch)

pytestmark = pytest.mark.timeout(10)
CHARSET = ["<blank>", "a", "b", "c", " "]


def _probs(steps: list[int], peak: float = 0.9) -> np.ndarray:
    probs = np.full((len(steps), len(CHARSET)), (1 - peak) / (len(CHARSET) - 1), np.float32)
    probs[np.arange(len(steps)), steps] = peak
    return probs


def test_ctc_merges_repeats_and_drops_blanks():
    # a a _ a b b _ _ c  ->  "aabc": the blank separates the two a's
    batch = np.stack([_probs([1, 1, 0, 1, 2, 2, 0, 0, 3]), _probs([0] * 9)])
    batch[0, 4, 2] = 0.6  # a less confident 'b' lowers the mean
    (text, score), (empty, empty_score) = ctc_greedy_decode(batch, CHARSET)
    assert text == "aabc"
    assert score == pytest.approx((0.9 + 0.9 + 0.6 + 0.9) / 4)
    assert (empty, empty_score) == ("", 0.0)


def test_ctc_space_class_and_shape_check():
    assert ctc_greedy_decode(_probs([1, 4, 2])[None], CHARSET)[0][0] == "a b"
    with pytest.raises(ValueError, match="expected probabilities"):
        ctc_greedy_decode(np.zeros((1, 3, 7)), CHARSET)


def test_charset_from_metadata_adds_blank_and_space():
    assert charset_from_metadata({"character": "x\ny\nz"}) == ["<blank>", "x", "y", "z", " "]
    with pytest.raises(InvalidArgument, match="no 'character' metadata"):
        charset_from_metadata({})


def test_batches_group_similar_widths():
    widths = [100, 400, 110, 120, 420, 90]
    assert plan_batches(widths, batch_size=8) == [[5, 0, 2], [3], [1, 4]]
    assert plan_batches(widths, batch_size=1) == [[5], [0], [2], [3], [1], [4]]
    assert plan_batches([], batch_size=4) == []


def test_rec_batch_keeps_aspect_and_pads_right():
    crops = [np.full((24, 48, 3), 255, np.uint8), np.full((48, 200, 3), 255, np.uint8)]
    batch = rec_batch(crops, min_width=64)
    assert batch.shape == (2, 3, 48, 224)  # 200 rounded up to a multiple of 32
    assert batch[0, :, :, :96].min() == 1.0 and batch[0, :, :, 96:].max() == 0.0
    assert rec_batch(crops, max_width=128).shape[3] == 128


def test_crop_quad_rectifies_and_turns_vertical_strips():
    image = np.zeros((100, 100, 3), np.uint8)
    image[10:30, 20:80] = 255
    quad = np.array([[20, 10], [80, 10], [80, 30], [20, 30]], np.float32)
    crop = crop_quad(image, quad)
    assert crop.shape == (20, 60, 3) and crop[2:-2, 2:-2].min() == 255
    tall = np.array([[10, 10], [20, 10], [20, 60], [10, 60]], np.float32)
    assert crop_quad(image, tall).shape[:2] == (10, 50)
