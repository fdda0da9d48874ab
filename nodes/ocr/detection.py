"""Text detection with a DB (differentiable binarisation) model such as PP-OCRv4 det.

The model outputs a per-pixel text probability; boxes come from thresholding it, fitting
minimum-area rectangles and growing them back ("unclip"), because DB is trained on
shrunken text regions. Unclip offsets the rectangle by area * ratio / perimeter, the same
distance PaddleOCR computes, without pyclipper: a rectangle grown on every side by d is the
rounded-corner offset polygon's minimum-area rectangle.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from nodes.inference.models import load_session
from nodes.inference.preprocess import Letterbox, normalize

DET_MEAN = (0.5, 0.5, 0.5)
DET_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class TextBoxes:
    """Detected text regions in frame pixels, sorted top to bottom."""

    polygons: np.ndarray   # float32 N x 4 x 2, corners tl, tr, br, bl
    boxes_xyxy: np.ndarray  # float32 N x 4, axis-aligned bounds of the polygons
    scores: np.ndarray     # float32 N, mean probability inside the shrunk box

    def __len__(self) -> int:
        return len(self.scores)


@dataclass(frozen=True)
class DBParams:
    thresh: float = 0.3        # pixel probability that counts as text
    box_thresh: float = 0.5    # mean probability a box needs to be kept
    unclip_ratio: float = 1.6
    max_candidates: int = 1000
    min_size: float = 3.0      # shortest side in map pixels; smaller boxes are noise
    use_dilation: bool = True  # joins strokes split by a thin gap


def det_resize(image: np.ndarray, limit_side_len: int = 960,
               limit_type: str = "max") -> tuple[np.ndarray, Letterbox]:
    """Resize so both sides are multiples of 32, as the DB backbone downsamples by 32.

    "max" shrinks frames whose longer side exceeds the limit; "min" enlarges frames whose
    shorter side is below it (PaddleOCR's two modes).
    """
    if limit_type not in ("max", "min"):
        raise ValueError(f"limit_type must be 'max' or 'min', got {limit_type!r}")
    h, w = image.shape[:2]
    if limit_type == "max":
        ratio = min(1.0, limit_side_len / max(h, w))
    else:
        ratio = max(1.0, limit_side_len / min(h, w))
    new_h = max(32, int(round(h * ratio / 32)) * 32)
    new_w = max(32, int(round(w * ratio / 32)) * 32)
    if (new_h, new_w) != (h, w):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return image, Letterbox(new_w / w, new_h / h)


def det_preprocess(image: np.ndarray, limit_side_len: int = 960,
                   limit_type: str = "max") -> tuple[np.ndarray, Letterbox]:
    resized, letterbox = det_resize(image, limit_side_len, limit_type)
    return normalize(resized, 1.0 / 255.0, DET_MEAN, DET_STD, "bgr", "nchw"), letterbox


def order_quad(points: np.ndarray) -> np.ndarray:
    """Corners as tl, tr, br, bl: left pair by x, then each pair by y."""
    by_x = points[np.argsort(points[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)


def unclip(rect: tuple, ratio: float) -> tuple:
    """Grow a cv2 rotated rect by area * ratio / perimeter on every side."""
    center, (w, h), angle = rect
    grow = w * h * ratio / (2 * (w + h))
    return center, (w + 2 * grow, h + 2 * grow), angle


def _box_score(prob: np.ndarray, quad: np.ndarray) -> float:
    """Mean probability inside the quad, over its bounding window only (fast)."""
    h, w = prob.shape
    x0, y0 = np.clip(np.floor(quad.min(axis=0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(quad.max(axis=0)).astype(int), 0, [w - 1, h - 1])
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(quad - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0])


def _quads_from_map(prob: np.ndarray, params: DBParams) -> tuple[list[np.ndarray], list[float]]:
    """Candidate quads in probability-map pixels, already unclipped, with their scores."""
    bitmap = (prob > params.thresh).astype(np.uint8)
    if params.use_dilation:
        bitmap = cv2.dilate(bitmap, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    quads, scores = [], []
    for contour in contours[:params.max_candidates]:
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < params.min_size:
            continue
        score = _box_score(prob, cv2.boxPoints(rect))
        if score < params.box_thresh:
            continue
        grown = unclip(rect, params.unclip_ratio)
        if min(grown[1]) < params.min_size + 2:
            continue
        quads.append(order_quad(cv2.boxPoints(grown)))
        scores.append(score)
    return quads, scores


def db_postprocess(prob_map: np.ndarray, letterbox: Letterbox = Letterbox(1.0, 1.0),
                   source_size: tuple[int, int] | None = None,
                   params: DBParams = DBParams()) -> TextBoxes:
    """Probability map ([1, 1,] H, W) to boxes in source pixels, clipped to (height, width)."""
    prob = np.asarray(prob_map, dtype=np.float32)
    prob = prob.reshape(prob.shape[-2:])
    quads, scores = _quads_from_map(prob, params)
    if not quads:
        empty = np.zeros((0,), np.float32)
        return TextBoxes(np.zeros((0, 4, 2), np.float32), np.zeros((0, 4), np.float32), empty)
    polygons = letterbox.to_source(np.stack(quads))
    height, width = source_size if source_size is not None else prob.shape
    np.clip(polygons[..., 0], 0, width - 1, out=polygons[..., 0])
    np.clip(polygons[..., 1], 0, height - 1, out=polygons[..., 1])
    xyxy = np.concatenate([polygons.min(axis=1), polygons.max(axis=1)], axis=1)
    order = np.lexsort((xyxy[:, 0], xyxy[:, 1]))
    return TextBoxes(polygons[order], xyxy[order], np.asarray(scores, np.float32)[order])


@dataclass
class TextDetector:
    """One onnxruntime session, reused for every frame a node receives."""

    model: str = "ppocr-det"
    limit_side_len: int = 960
    limit_type: str = "max"
    params: DBParams = field(default_factory=DBParams)
    intra_op_threads: int = 0
    inter_op_threads: int = 0

    def __post_init__(self):
        det_resize(np.zeros((32, 32, 3), np.uint8), self.limit_side_len, self.limit_type)
        self.session = load_session(self.model, self.intra_op_threads, self.inter_op_threads)
        self._input = self.session.get_inputs()[0].name

    def __call__(self, image: np.ndarray) -> TextBoxes:
        tensor, letterbox = det_preprocess(image, self.limit_side_len, self.limit_type)
        prob = self.session.run(None, {self._input: tensor})[0]
        return db_postprocess(prob, letterbox, image.shape[:2], self.params)
