"""How far a candidate model's output is from a reference output of the same frame.

Shared by `edge model regress` (recorded outputs vs a new model) and the `model_shadow`
node type (the live model vs a shadow one). Per message type:
  TensorMap       per tensor: max |a - b| and the fraction of elements outside tolerance
  Detections      boxes matched one to one by IoU: mean IoU of the reference boxes
  Text            boxes as above, and the fraction of reference words read the same
  Classification  whether the top class is the same
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from messages import Classification, Detections, TensorMap, Text
from nodes.ocr.scoring import box_iou

ATOL, RTOL = 1e-4, 1e-3      # an element matches when |a - b| <= ATOL + RTOL * |reference|
MIN_MATCH_IOU = 0.5          # a candidate box this close counts as the same box
SAMPLES_KEPT = 5             # disagreements kept as examples


@dataclass
class Agreement:
    """Running tallies over frames; `summary()` is what reports and stats show."""

    frames: int = 0
    elements: int = 0
    mismatched: int = 0
    max_abs_diff: float = 0.0
    per_tensor: dict = field(default_factory=dict)   # name -> [max_abs_diff, mismatched, elements]
    boxes: int = 0
    iou_sum: float = 0.0
    words: int = 0
    words_same: int = 0
    top1: int = 0
    top1_same: int = 0
    skipped: int = 0                                  # pairs of types that cannot be compared
    samples: list = field(default_factory=list)

    def add(self, reference: Any, candidate: Any, frame_id: int = 0) -> None:
        before = self._disagreements()
        if isinstance(reference, TensorMap) and isinstance(candidate, TensorMap):
            self._tensors(reference.tensors, candidate.tensors)
        elif isinstance(reference, (Detections, Text)) and type(candidate) is type(reference):
            self._boxes(reference, candidate)
        elif isinstance(reference, Classification) and isinstance(candidate, Classification):
            self.top1 += 1
            self.top1_same += _top1(reference) == _top1(candidate)
        else:
            self.skipped += 1
            return
        self.frames += 1
        if self._disagreements() > before and len(self.samples) < SAMPLES_KEPT:
            self.samples.append({"frame_id": frame_id, "reference": _brief(reference),
                                 "candidate": _brief(candidate)})

    def _tensors(self, reference: dict, candidate: dict) -> None:
        for name, ref in reference.items():
            got = candidate.get(name)
            ref = np.asarray(ref, dtype=np.float64)
            tally = self.per_tensor.setdefault(name, [0.0, 0, 0])
            if got is None or np.shape(got) != ref.shape:
                self.mismatched += ref.size
                self.elements += ref.size
                tally[1] += ref.size
                tally[2] += ref.size
                tally[0] = float("inf")
                self.max_abs_diff = float("inf")
                continue
            diff = np.abs(np.asarray(got, dtype=np.float64) - ref)
            bad = int(np.count_nonzero(diff > ATOL + RTOL * np.abs(ref)))
            worst = float(diff.max()) if diff.size else 0.0
            self.elements += ref.size
            self.mismatched += bad
            self.max_abs_diff = max(self.max_abs_diff, worst)
            tally[0], tally[1], tally[2] = max(tally[0], worst), tally[1] + bad, tally[2] + ref.size

    def _boxes(self, reference, candidate) -> None:
        pairs = match_boxes(reference.boxes.tolist(), candidate.boxes.tolist())
        self.boxes += len(reference.boxes)
        self.iou_sum += sum(iou for iou, _, _ in pairs)
        if isinstance(reference, Text):
            self.words += len(reference.strings)
            self.words_same += sum(reference.strings[r] == candidate.strings[c]
                                   for _, r, c in pairs)

    def _disagreements(self) -> float:
        return (self.mismatched + (self.boxes - self.iou_sum) + (self.words - self.words_same)
                + (self.top1 - self.top1_same))

    def summary(self) -> dict:
        return {"frames": self.frames, "skipped": self.skipped,
                "max_abs_diff": _num(self.max_abs_diff) if self.elements else None,
                "mismatch_rate": _ratio(self.mismatched, self.elements),
                "mean_box_iou": _ratio(self.iou_sum, self.boxes),
                "text_agreement": _ratio(self.words_same, self.words),
                "top1_agreement": _ratio(self.top1_same, self.top1),
                "tensors": {name: {"max_abs_diff": _num(t[0]), "mismatch_rate": _ratio(t[1], t[2])}
                            for name, t in self.per_tensor.items()},
                "samples": self.samples}


@dataclass(frozen=True)
class Thresholds:
    """What `passes` demands; None leaves a measure unchecked."""

    max_mismatch_rate: float = 0.01
    min_box_iou: float = 0.9
    min_text_agreement: float = 0.95
    min_top1_agreement: float = 0.99

    def failures(self, summary: dict) -> list[str]:
        """One line per measure outside its threshold; empty when the candidate passes."""
        checks = [("mismatch_rate", self.max_mismatch_rate, "above"),
                  ("mean_box_iou", self.min_box_iou, "below"),
                  ("text_agreement", self.min_text_agreement, "below"),
                  ("top1_agreement", self.min_top1_agreement, "below")]
        failed = []
        for key, limit, bad in checks:
            value = summary.get(key)
            if value is None or limit is None:
                continue
            if (value > limit) if bad == "above" else (value < limit):
                failed.append(f"{key} {value:.4g} is {bad} the threshold {limit:g}")
        if not summary["frames"]:
            failed.append("no frame could be compared")
        return failed


def match_boxes(reference: list, candidate: list) -> list[tuple[float, int, int]]:
    """Greedy one-to-one matching by IoU: (iou, reference index, candidate index)."""
    pairs = sorted(((box_iou(r, c), ri, ci) for ri, r in enumerate(reference)
                    for ci, c in enumerate(candidate)), reverse=True)
    used_r, used_c, matched = set(), set(), []
    for iou, ri, ci in pairs:
        if iou < MIN_MATCH_IOU or ri in used_r or ci in used_c:
            continue
        used_r.add(ri)
        used_c.add(ci)
        matched.append((iou, ri, ci))
    return matched


def _top1(message: Classification) -> Optional[int]:
    return int(message.class_ids[0]) if len(message.class_ids) else None


def _brief(message: Any) -> Any:
    if isinstance(message, Text):
        return message.strings[:8]
    if isinstance(message, Detections):
        return f"{len(message.boxes)} boxes"
    if isinstance(message, Classification):
        return _top1(message)
    if isinstance(message, TensorMap):
        return {name: list(np.shape(t)) for name, t in message.tensors.items()}
    return type(message).__name__


def _ratio(part: float, whole: float) -> Optional[float]:
    return round(part / whole, 6) if whole else None


def _num(value: float) -> Optional[float]:
    return None if value == float("inf") else round(value, 6)
