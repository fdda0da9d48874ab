"""Camera frames and what models find in them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from messages.codec import short
from messages.schema import Schema, need, need_array, need_str

CHANNELS = {"bgr8": 3, "rgb8": 3, "bgra8": 4, "rgba8": 4, "mono8": 1}


@dataclass
class Image(Schema):
    """An H x W x C uint8 frame; `frame_id` lets later stages match results to it."""

    TYPE = "Image"
    data: np.ndarray
    encoding: str = "bgr8"
    frame_id: int = 0

    def validate(self) -> None:
        need(self.encoding in CHANNELS, f"unknown image encoding {short(self.encoding)} "
             f"(one of {', '.join(CHANNELS)})")
        need_array(self.data, "image data", dtype="uint8", ndim=3)
        channels = CHANNELS[self.encoding]
        need(self.data.shape[2] == channels,
             f"{self.encoding} image needs {channels} channel(s), got shape {self.data.shape}")
        need(type(self.frame_id) is int, "frame_id must be an int")

    @property
    def height(self) -> int:
        return self.data.shape[0]

    @property
    def width(self) -> int:
        return self.data.shape[1]


def _check_rows(n: int, **columns) -> None:
    for name, value in columns.items():
        if value is not None:
            need(len(value) == n, f"{name} has {len(value)} rows, boxes have {n}")


def _check_boxes(boxes: np.ndarray, polygons: Optional[np.ndarray]) -> int:
    need_array(boxes, "boxes", dtype="float32", ndim=2)
    need(boxes.shape[1] == 4, f"boxes must be N x 4 (x0, y0, x1, y1), got {boxes.shape}")
    if polygons is not None:
        need_array(polygons, "polygons", dtype="float32", ndim=3)
        need(polygons.shape[2] == 2, f"polygons must be N x K x 2, got {polygons.shape}")
    return boxes.shape[0]


@dataclass
class Detections(Schema):
    TYPE = "Detections"
    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    labels: Optional[list] = None
    polygons: Optional[np.ndarray] = None
    frame_id: int = 0

    def validate(self) -> None:
        n = _check_boxes(self.boxes, self.polygons)
        need_array(self.scores, "scores", dtype="float32", ndim=1)
        need_array(self.class_ids, "class_ids", dtype="int32", ndim=1)
        if self.labels is not None:
            need(all(isinstance(s, str) for s in self.labels), "labels must be strings")
        _check_rows(n, scores=self.scores, class_ids=self.class_ids, labels=self.labels,
                    polygons=self.polygons)
        need(type(self.frame_id) is int, "frame_id must be an int")


@dataclass
class Text(Schema):
    """Recognised strings, one per box."""

    TYPE = "Text"
    strings: list
    boxes: np.ndarray
    scores: Optional[np.ndarray] = None
    polygons: Optional[np.ndarray] = None
    frame_id: int = 0

    def validate(self) -> None:
        need(isinstance(self.strings, list), "strings must be a list")
        for s in self.strings:
            need_str(s, "text string")
        n = _check_boxes(self.boxes, self.polygons)
        if self.scores is not None:
            need_array(self.scores, "scores", dtype="float32", ndim=1)
        _check_rows(n, strings=self.strings, scores=self.scores, polygons=self.polygons)
        need(type(self.frame_id) is int, "frame_id must be an int")


@dataclass
class Classification(Schema):
    """Top-k classes, best first."""

    TYPE = "Classification"
    class_ids: np.ndarray
    scores: np.ndarray
    labels: Optional[list] = None
    frame_id: int = 0

    def validate(self) -> None:
        need_array(self.class_ids, "class_ids", dtype="int32", ndim=1)
        need_array(self.scores, "scores", dtype="float32", ndim=1)
        need(len(self.scores) == len(self.class_ids), "scores and class_ids differ in length")
        if self.labels is not None:
            need(len(self.labels) == len(self.class_ids), "labels and class_ids differ in length")
            need(all(isinstance(s, str) for s in self.labels), "labels must be strings")
        need(type(self.frame_id) is int, "frame_id must be an int")
