"""Text recognition with a CTC model such as PP-OCRv4 rec.

Each detected quad is rectified to a horizontal strip, resized to the model's height with
its aspect kept, and batched with strips of similar width so little compute goes to
padding. Decoding is greedy CTC against the character list stored in the model file, so
model and alphabet can never drift apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from edge.errors import InvalidArgument
from nodes.inference.models import load_session

REC_HEIGHT_PX = 48


def charset_from_metadata(metadata: dict[str, str], use_space_char: bool = True) -> list[str]:
    """Class index -> character: 0 is the CTC blank, PaddleOCR appends a space class last."""
    if "character" not in metadata:
        raise InvalidArgument("recognition model has no 'character' metadata")
    chars = metadata["character"].splitlines()
    return ["<blank>", *chars, *([" "] if use_space_char else [])]


def ctc_greedy_decode(probs: np.ndarray, charset: Sequence[str],
                      blank: int = 0) -> list[tuple[str, float]]:
    """Best class per step, repeats merged, blanks dropped; score = mean kept probability."""
    probs = np.asarray(probs)
    if probs.ndim != 3 or probs.shape[2] != len(charset):
        raise ValueError(f"expected probabilities (N, T, {len(charset)}), got {probs.shape}")
    best = probs.argmax(axis=2)
    confidence = probs.max(axis=2)
    repeated = np.zeros_like(best, dtype=bool)
    repeated[:, 1:] = best[:, 1:] == best[:, :-1]
    keep = (best != blank) & ~repeated
    results = []
    for row_best, row_conf, row_keep in zip(best, confidence, keep):
        text = "".join(charset[i] for i in row_best[row_keep])
        score = float(row_conf[row_keep].mean()) if row_keep.any() else 0.0
        results.append((text, score))
    return results


def crop_quad(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Rectify a tl, tr, br, bl quad to an upright strip; tall strips are turned on their side."""
    quad = np.asarray(quad, dtype=np.float32)
    width = max(1, int(round(max(np.linalg.norm(quad[0] - quad[1]),
                                 np.linalg.norm(quad[3] - quad[2])))))
    height = max(1, int(round(max(np.linalg.norm(quad[0] - quad[3]),
                                  np.linalg.norm(quad[1] - quad[2])))))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad, target)
    crop = cv2.warpPerspective(image, matrix, (width, height), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)
    return np.rot90(crop) if height >= 1.5 * width else crop


def scaled_width(crop: np.ndarray) -> int:
    """Width of the crop once resized to the model height with its aspect kept."""
    return max(1, math.ceil(REC_HEIGHT_PX * crop.shape[1] / max(1, crop.shape[0])))


def plan_batches(widths: Sequence[int], batch_size: int,
                 max_growth: float = 0.25) -> list[list[int]]:
    """Group crop indices by similar width.

    On CPU a batch costs about the sum of its padded widths and batching itself saves little,
    so a batch is closed as soon as the next crop is max_growth wider than its first one.
    """
    batches: list[list[int]] = []
    for i in sorted(range(len(widths)), key=lambda j: widths[j]):
        if (not batches or len(batches[-1]) >= batch_size
                or widths[i] > widths[batches[-1][0]] * (1 + max_growth)):
            batches.append([])
        batches[-1].append(i)
    return batches


def rec_batch(crops: Sequence[np.ndarray], min_width: int = 64,
              max_width: int = 1280) -> np.ndarray:
    """N x 3 x 48 x W float32; W fits the widest crop (multiple of 32) within the limits.

    Strips are padded on the right as in PP-OCR training; crops wider than max_width are
    squeezed. PaddleOCR pads to at least 320; on the pattern scene a tight width reads as
    well and costs half as much, so the floor is a parameter.
    """
    needed = max(scaled_width(crop) for crop in crops)
    width = min(max_width, max(min_width, 32 * math.ceil(needed / 32)))
    batch = np.zeros((len(crops), 3, REC_HEIGHT_PX, width), dtype=np.float32)
    for i, crop in enumerate(crops):
        resized = cv2.resize(crop, (min(width, scaled_width(crop)), REC_HEIGHT_PX),
                             interpolation=cv2.INTER_LINEAR)
        strip = resized.astype(np.float32).transpose(2, 0, 1) * np.float32(2 / 255) - 1
        batch[i, :, :, :strip.shape[2]] = strip
    return batch


@dataclass
class TextRecognizer:
    """One onnxruntime session and its alphabet, reused for every frame."""

    model: str = "ppocr-rec"
    batch_size: int = 8
    min_width: int = 64
    max_width: int = 1280
    intra_op_threads: int = 0
    inter_op_threads: int = 0

    def __post_init__(self):
        self.session = load_session(self.model, self.intra_op_threads, self.inter_op_threads)
        self._input = self.session.get_inputs()[0].name
        metadata = self.session.get_modelmeta().custom_metadata_map
        try:
            self.charset = charset_from_metadata(metadata)
        except InvalidArgument as exc:
            raise InvalidArgument(f"{exc.message} ({self.model})") from None

    def __call__(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """(text, mean confidence) per crop, in the order given."""
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for chunk in plan_batches([scaled_width(crop) for crop in crops], self.batch_size):
            batch = rec_batch([crops[i] for i in chunk], self.min_width, self.max_width)
            probs = self.session.run(None, {self._input: batch})[0]
            for i, result in zip(chunk, ctc_greedy_decode(probs, self.charset)):
                results[i] = result
        return results

    def read_boxes(self, image: np.ndarray, polygons: np.ndarray) -> list[tuple[str, float]]:
        return self([crop_quad(image, quad) for quad in polygons])
