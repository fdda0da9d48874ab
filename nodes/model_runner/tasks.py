"""What a model_runner does per message: preprocess, run the session, postprocess.

Two shapes of work: a whole frame in, one message out (text_boxes, softmax_topk, raw); or
a frame plus its text boxes in, one Text out (ctc_text: crops rectified, batched by width,
decoded greedily against the alphabet stored in the model). Each call records how long
its stages took, for the node's Stats.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import onnxruntime as ort

from messages import Classification, Detections, Image, TensorMap, Text
from nodes.inference.postprocess import softmax_topk
from nodes.inference.preprocess import ImagePreprocess, Letterbox
from nodes.ocr.detection import DBParams, db_postprocess
from nodes.ocr.recognition import (charset_from_metadata, crop_quad, ctc_greedy_decode,
                                   plan_batches, rec_batch, scaled_width)

Postprocess = Callable[[list, Letterbox, Image], object]


class Timed:
    def __init__(self):
        self.ms: dict[str, float] = {}
        self._last = 0.0

    def start(self) -> None:
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.ms[stage] = (now - self._last) * 1e3
        self._last = now


class ImageTask(Timed):
    """One frame -> one message."""

    def __init__(self, session: ort.InferenceSession, preprocess: ImagePreprocess,
                 postprocess: Postprocess):
        super().__init__()
        self.session, self.preprocess, self.postprocess = session, preprocess, postprocess
        self._input = session.get_inputs()[0].name

    def __call__(self, image: Image):
        self.start()
        tensor, letterbox = self.preprocess(image.data)
        self.lap("preprocess_ms")
        outputs = self.session.run(None, {self._input: tensor})
        self.lap("inference_ms")
        message = self.postprocess(outputs, letterbox, image)
        self.lap("postprocess_ms")
        return message


def text_boxes(params: DBParams) -> Postprocess:
    def convert(outputs: list, letterbox: Letterbox, image: Image) -> Detections:
        found = db_postprocess(outputs[0], letterbox, image.data.shape[:2], params)
        return Detections(found.boxes_xyxy, found.scores, np.zeros(len(found), np.int32),
                          polygons=found.polygons, frame_id=image.frame_id)
    return convert


def topk(k: int, labels: list[str], apply_softmax: bool) -> Postprocess:
    def convert(outputs: list, letterbox: Letterbox, image: Image) -> Classification:
        best = softmax_topk(outputs[0][:1], k, labels or None, apply_softmax)[0]
        names = [t.label if t.label is not None else str(t.index) for t in best]
        return Classification(np.array([t.index for t in best], np.int32),
                              np.array([t.score for t in best], np.float32),
                              names if labels else None, frame_id=image.frame_id)
    return convert


def raw(names: list[str]) -> Postprocess:
    def convert(outputs: list, letterbox: Letterbox, image: Image) -> TensorMap:
        return TensorMap({name: np.ascontiguousarray(v) for name, v in zip(names, outputs)})
    return convert


class CtcTextTask(Timed):
    """A frame and its text boxes -> the strings read in them, boxes kept."""

    def __init__(self, session: ort.InferenceSession, batch_size: int = 8, min_width: int = 64,
                 min_score: float = 0.5):
        super().__init__()
        self.session, self.batch_size = session, batch_size
        self.min_width, self.min_score = min_width, min_score
        self._input = session.get_inputs()[0].name
        self.charset = charset_from_metadata(session.get_modelmeta().custom_metadata_map)

    def __call__(self, image: Image, boxes: Detections) -> Text:
        self.start()
        quads = boxes.polygons if boxes.polygons is not None else _corners(boxes.boxes)
        crops = [crop_quad(image.data, quad) for quad in quads]
        self.lap("preprocess_ms")
        reads: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for chunk in plan_batches([scaled_width(c) for c in crops], self.batch_size):
            batch = rec_batch([crops[i] for i in chunk], self.min_width)
            probs = self.session.run(None, {self._input: batch})[0]
            for i, read in zip(chunk, ctc_greedy_decode(probs, self.charset)):
                reads[i] = read
        self.lap("inference_ms")
        keep = [i for i, (text, score) in enumerate(reads)
                if score >= self.min_score and text.strip()]
        text = Text([reads[i][0] for i in keep], np.ascontiguousarray(boxes.boxes[keep]),
                    np.array([reads[i][1] for i in keep], np.float32),
                    None if boxes.polygons is None else np.ascontiguousarray(quads[keep]),
                    frame_id=image.frame_id)
        self.lap("postprocess_ms")
        return text


def _corners(boxes: np.ndarray) -> np.ndarray:
    """x0, y0, x1, y1 boxes as tl, tr, br, bl quads."""
    x0, y0, x1, y1 = (boxes[:, i] for i in range(4))
    return np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1),
                     np.stack([x1, y1], 1), np.stack([x0, y1], 1)], 1).astype(np.float32)
