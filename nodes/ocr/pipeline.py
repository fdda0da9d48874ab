"""Detection then recognition in one process, with no bus in between.

This is the baseline the distributed demo is measured against: same models, same
parameters, so any difference in frames/s or accuracy comes from the transport.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from nodes.ocr.detection import DBParams, TextDetector
from nodes.ocr.recognition import TextRecognizer, crop_quad


@dataclass(frozen=True)
class OCRResult:
    texts: list[str]
    text_scores: np.ndarray   # float32 N, mean CTC confidence
    polygons: np.ndarray      # float32 N x 4 x 2
    boxes_xyxy: np.ndarray    # float32 N x 4
    det_ms: float
    rec_ms: float

    def words(self) -> list[tuple[str, list[float]]]:
        """(text, [x0, y0, x1, y1]) pairs, the form word_accuracy compares."""
        boxes = self.boxes_xyxy.tolist()
        return list(zip(self.texts, boxes))


@dataclass
class SingleProcessOCR:
    """Frame in, words out, timing each stage so the split across nodes can be compared."""

    det_model: str = "ppocr-det"
    rec_model: str = "ppocr-rec"
    det_limit_side_len: int = 960
    det_limit_type: str = "max"
    det_params: DBParams = field(default_factory=DBParams)
    rec_batch_size: int = 8
    rec_min_width: int = 64
    min_text_score: float = 0.5   # below this a read is noise (rapidocr's default)
    intra_op_threads: int = 0
    inter_op_threads: int = 0

    def __post_init__(self):
        threads = dict(intra_op_threads=self.intra_op_threads,
                       inter_op_threads=self.inter_op_threads)
        self.detector = TextDetector(self.det_model, self.det_limit_side_len,
                                     self.det_limit_type, self.det_params, **threads)
        self.recognizer = TextRecognizer(self.rec_model, self.rec_batch_size,
                                         self.rec_min_width, **threads)

    def __call__(self, image: np.ndarray) -> OCRResult:
        start = time.perf_counter()
        boxes = self.detector(image)
        det_done = time.perf_counter()
        reads = self.recognizer([crop_quad(image, quad) for quad in boxes.polygons])
        rec_done = time.perf_counter()
        keep = np.array([score >= self.min_text_score and text.strip() != ""
                         for text, score in reads], dtype=bool).reshape(-1)
        return OCRResult(
            texts=[text for (text, _), k in zip(reads, keep) if k],
            text_scores=np.array([s for (_, s), k in zip(reads, keep) if k], np.float32),
            polygons=boxes.polygons[keep], boxes_xyxy=boxes.boxes_xyxy[keep],
            det_ms=(det_done - start) * 1e3, rec_ms=(rec_done - det_done) * 1e3)
