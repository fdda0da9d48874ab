import numpy as np
import pytest

from nodes.inference.preprocess import Letterbox
from nodes.ocr.detection import DBParams, db_postprocess, det_preprocess, order_quad, unclip

pytestmark = pytest.mark.timeout(10)


def _two_rectangles() -> np.ndarray:
    prob = np.full((160, 320), 0.02, dtype=np.float32)
    prob[40:60, 30:130] = 0.9     # 100 x 20 at x 30..130, y 40..60
    prob[100:130, 200:260] = 0.8  # 60 x 30 at x 200..260, y 100..130
    return prob[None, None]


def test_two_rectangles_give_two_boxes_in_place():
    boxes = db_postprocess(_two_rectangles(), params=DBParams(unclip_ratio=0.0))
    assert len(boxes) == 2
    assert boxes.polygons.shape == (2, 4, 2) and boxes.polygons.dtype == np.float32
    np.testing.assert_allclose(boxes.boxes_xyxy[0], [30, 40, 130, 60], atol=1.5)
    np.testing.assert_allclose(boxes.boxes_xyxy[1], [200, 100, 260, 130], atol=1.5)
    # the mean includes the box's edge pixels, so it sits a little below the plateau
    assert 0.8 < boxes.scores[0] <= 0.9 and 0.7 < boxes.scores[1] <= 0.8


def test_unclip_grows_each_side_by_area_ratio_over_perimeter():
    boxes = db_postprocess(_two_rectangles(), params=DBParams(unclip_ratio=1.6))
    grow = 100 * 20 * 1.6 / 240  # ~13.3 px for the first rectangle
    np.testing.assert_allclose(boxes.boxes_xyxy[0], [30 - grow, 40 - grow, 130 + grow, 60 + grow],
                               atol=1.5)
    assert unclip(((0, 0), (10, 10), 0), 2.0)[1] == (20.0, 20.0)


def test_boxes_are_mapped_back_through_the_letterbox_and_clipped():
    boxes = db_postprocess(_two_rectangles(), Letterbox(0.5, 0.5), source_size=(320, 500),
                           params=DBParams(unclip_ratio=0.0))
    np.testing.assert_allclose(boxes.boxes_xyxy[0], [60, 80, 260, 120], atol=3)
    assert boxes.boxes_xyxy[:, 2].max() <= 499


def test_low_scores_and_specks_are_dropped():
    prob = np.zeros((64, 64), dtype=np.float32)
    prob[10:30, 10:50] = 0.35   # above thresh, below box_thresh
    prob[50:52, 50:52] = 0.99   # too small
    assert len(db_postprocess(prob)) == 0


def test_det_preprocess_sizes_are_multiples_of_32():
    image = np.zeros((480, 650, 3), dtype=np.uint8)
    tensor, letterbox = det_preprocess(image, limit_side_len=960)
    assert tensor.shape == (1, 3, 480, 640) and tensor.dtype == np.float32
    assert tensor.min() == -1.0
    tensor, letterbox = det_preprocess(image, limit_side_len=320)
    assert tensor.shape[2] % 32 == 0 and tensor.shape[3] % 32 == 0 and max(tensor.shape) <= 320
    np.testing.assert_allclose(letterbox.to_source(np.array([[tensor.shape[3], tensor.shape[2]]])),
                               [[650, 480]], rtol=1e-5)


def test_order_quad_is_tl_tr_br_bl():
    quad = np.array([[10, 20], [0, 0], [10, 0], [0, 20]], dtype=np.float32)
    assert order_quad(quad).tolist() == [[0, 0], [10, 0], [10, 20], [0, 20]]
