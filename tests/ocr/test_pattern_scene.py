import numpy as np
import pytest

from nodes.camera.pattern import PatternScene
from nodes.camera.words import WORDS

pytestmark = pytest.mark.timeout(20)
STAMP_NS = 1_700_000_000_000_000_000


def test_same_seed_same_frames():
    a, b = PatternScene(seed=7), PatternScene(seed=7)
    for index in (0, 1, 44, 300):
        image_a, truth_a = a.render(index, STAMP_NS + index)
        image_b, truth_b = b.render(index, STAMP_NS + index)
        assert np.array_equal(image_a, image_b)
        assert truth_a == truth_b


def test_seeds_differ():
    one, two = PatternScene(seed=1), PatternScene(seed=2)
    assert one.render(0, STAMP_NS)[1] != two.render(0, STAMP_NS)[1]


def test_words_change_per_set_and_counter_changes_per_frame():
    scene = PatternScene(seed=0, frames_per_set=10)
    image0, truth0 = scene.render(0, STAMP_NS)
    image1, truth1 = scene.render(1, STAMP_NS)
    _, truth10 = scene.render(10, STAMP_NS)
    assert truth0 == truth1
    assert not np.array_equal(image0, image1)  # counter and marker moved
    assert [w for w, _ in truth0] != [w for w, _ in truth10]


def test_frame_shape_and_truth_boxes():
    scene = PatternScene(width=640, height=480, seed=3)
    for index in range(0, 200, 15):
        image, truth = scene.render(index, STAMP_NS)
        assert image.shape == (480, 640, 3) and image.dtype == np.uint8
        assert len(truth) >= 3
        boxes = [box for _, box in truth]
        for word, (x0, y0, x1, y1) in truth:
            assert word in WORDS
            assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480
            assert image[y0:y1, x0:x1].min() < 100  # dark ink inside the box
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="frame_index"):
        PatternScene().render(-1, STAMP_NS)
    with pytest.raises(ValueError, match="too small"):
        PatternScene(width=10, height=10)
