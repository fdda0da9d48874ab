import pytest

from nodes.camera.pattern import PatternScene
from nodes.ocr.pipeline import SingleProcessOCR
from nodes.ocr.scoring import WordScore, word_accuracy

STAMP_NS = 1_700_000_000_000_000_000


@pytest.fixture(scope="module")
def ocr():
    return SingleProcessOCR()


@pytest.mark.timeout(120)
def test_pattern_words_are_read_exactly(ocr):
    scene = PatternScene(seed=11, frames_per_set=1)  # a fresh word set in every frame
    score = WordScore()
    for index in range(30):
        image, truth = scene.render(index, STAMP_NS + index * 66_000_000)
        result = ocr(image)
        assert result.det_ms > 0 and result.rec_ms > 0
        score += word_accuracy(truth, result.words())
    print(f"\nword accuracy {score.correct}/{score.total} = {score.accuracy:.3f} "
          f"(located {score.located})")
    assert score.total >= 150
    assert score.accuracy >= 0.9


@pytest.mark.timeout(30)
def test_blank_frame_reads_nothing(ocr):
    import numpy as np
    result = ocr(np.full((480, 640, 3), 230, np.uint8))
    assert result.texts == [] and result.boxes_xyxy.shape == (0, 4)


@pytest.mark.timeout(10)
def test_word_accuracy_matches_by_position_not_text():
    truth = [("cat", [0, 0, 50, 20]), ("dog", [100, 0, 150, 20]), ("sun", [0, 50, 50, 70])]
    recognized = [("dog", [2, 1, 52, 21]),      # right place for "cat", wrong text
                  ("dog", [99, 0, 151, 22]),    # correct
                  ("dog", [101, 2, 149, 19]),   # duplicate box: used once only
                  ("noise", [300, 300, 320, 310])]
    score = word_accuracy(truth, recognized)
    assert (score.correct, score.located, score.total) == (1, 2, 3)
    assert score.accuracy == pytest.approx(1 / 3)
    assert word_accuracy([], recognized).accuracy == 1.0
