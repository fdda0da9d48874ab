"""Scoring recognised words against the words the pattern scene printed.

Matching is by position, not by text, so a misread word counts as wrong instead of
silently matching some other word; each truth word and each recognised box is used once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

Word = tuple[str, Sequence[float]]   # (text, [x0, y0, x1, y1])
MIN_IOU = 0.3


@dataclass(frozen=True)
class WordScore:
    correct: int = 0    # matched by position and spelled exactly right
    located: int = 0    # matched by position, whatever the text
    total: int = 0      # truth words

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 1.0

    def __add__(self, other: WordScore) -> WordScore:
        return WordScore(self.correct + other.correct, self.located + other.located,
                         self.total + other.total)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _contains_center(outer: Sequence[float], inner: Sequence[float]) -> bool:
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3]


def _candidate_pairs(truth: Sequence[Word], recognized: Sequence[Word]) -> list[tuple]:
    """(iou, truth index, recognised index) for every pair that overlaps enough."""
    pairs = []
    for ti, (_, tbox) in enumerate(truth):
        for ri, (_, rbox) in enumerate(recognized):
            iou = box_iou(tbox, rbox)
            if iou >= MIN_IOU or _contains_center(tbox, rbox) or _contains_center(rbox, tbox):
                pairs.append((iou, ti, ri))
    return sorted(pairs, key=lambda p: -p[0])


def word_accuracy(truth: Sequence[Word], recognized: Sequence[Word]) -> WordScore:
    """Greedy best-IoU one-to-one matching, then exact (case-sensitive) string comparison."""
    used_truth, used_rec, correct = set(), set(), 0
    for _, ti, ri in _candidate_pairs(truth, recognized):
        if ti in used_truth or ri in used_rec:
            continue
        used_truth.add(ti)
        used_rec.add(ri)
        correct += truth[ti][0] == str(recognized[ri][0]).strip()
    return WordScore(correct, len(used_truth), len(truth))
