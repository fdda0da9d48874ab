"""Edge messages as Foxglove schemas, for Foxglove's image panel (needs `foxglove-sdk`).

Image -> foxglove.RawImage; Text and Detections -> foxglove.ImageAnnotations (outlines and
labels). Both are stamped with the message's `stamp_ns`, the capture time of the frame, so
Foxglove draws each result on the image it was computed from. Other values are skipped.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np

from edge.errors import FailedPrecondition
from edge.ratelimit import RateLimitedLog
from messages import Detections, Image, Text

try:
    import foxglove
    from foxglove import channels as fox_channels, messages as fox
except ImportError:  # an optional extra
    foxglove = None

FOXGLOVE_ENCODINGS = {"bgr8": "bgr8", "rgb8": "rgb8", "bgra8": "bgra8", "rgba8": "rgba8", "mono8": "mono8"}
log = logging.getLogger("edge.foxglove")
TEXT_RGBA = (0.0, 0.67, 0.0, 1.0)
DETECTION_RGBA = (0.0, 0.47, 0.86, 1.0)


def require_foxglove() -> None:
    if foxglove is None:
        raise FailedPrecondition("Foxglove support needs the foxglove-sdk package: "
                                 "pip install 'edge-runtime[foxglove]'")


def _timestamp(stamp_ns: int):
    return fox.Timestamp(sec=stamp_ns // 1_000_000_000, nsec=stamp_ns % 1_000_000_000)


def _color(rgba) -> Any:
    return fox.Color(r=rgba[0], g=rgba[1], b=rgba[2], a=rgba[3])


def raw_image(image: Image, stamp_ns: int, frame_id: str) -> Any:
    data = np.ascontiguousarray(image.data)
    height, width, channels = data.shape
    return fox.RawImage(timestamp=_timestamp(stamp_ns), frame_id=frame_id, width=width,
                        height=height, encoding=FOXGLOVE_ENCODINGS[image.encoding],
                        step=width * channels, data=data.tobytes())


def annotations(value: Text | Detections, stamp_ns: int) -> Any:
    """Outlines (polygons when present, else boxes) and, for Text, one label per string."""
    rgba = TEXT_RGBA if isinstance(value, Text) else DETECTION_RGBA
    quads = _quads(value.polygons, value.boxes)
    points = [fox.PointsAnnotation(timestamp=_timestamp(stamp_ns), type=fox.PointsAnnotationType.LineLoop,
                                   points=[fox.Point2(x=float(x), y=float(y)) for x, y in quad],
                                   outline_color=_color(rgba), thickness=2.0) for quad in quads]
    labels = getattr(value, "strings", None) or getattr(value, "labels", None) or []
    texts = [fox.TextAnnotation(timestamp=_timestamp(stamp_ns),
                                position=fox.Point2(x=float(quad[:, 0].min()), y=float(quad[:, 1].min()) - 4),
                                text=str(label), font_size=14.0, text_color=_color((1, 1, 1, 1)),
                                background_color=_color(rgba)) for quad, label in zip(quads, labels)]
    return fox.ImageAnnotations(timestamp=_timestamp(stamp_ns), points=points, texts=texts)


def _quads(polygons: Optional[np.ndarray], boxes: np.ndarray) -> np.ndarray:
    if polygons is not None:
        return np.asarray(polygons, dtype=np.float64)
    x0, y0, x1, y1 = (np.asarray(boxes, dtype=np.float64)[:, i] for i in range(4))
    return np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1),
                     np.stack([x1, y1], 1), np.stack([x0, y1], 1)], 1)


class FoxgloveTopics:
    """One Foxglove channel per edge topic, of the kind of its first convertible message: a
    topic that then carries the other kind (images and results mixed) has those skipped."""

    def __init__(self, context: Any = None):
        require_foxglove()
        self.context = context if context is not None else foxglove.Context()
        self._channels: dict[str, tuple] = {}  # topic -> (channel, its kind)
        self._mixed = RateLimitedLog(log, per_interval=3)
        self.logged = 0
        self.skipped = 0

    def log(self, topic: str, value: Any, stamp_ns: int, log_time_ns: Optional[int] = None,
            source: str = "") -> bool:
        """Log one edge value; False (and counted) when it has no Foxglove form."""
        if isinstance(value, Image) and value.encoding in FOXGLOVE_ENCODINGS:
            message, kind = raw_image(value, stamp_ns, source or topic), fox_channels.RawImageChannel
        elif isinstance(value, (Text, Detections)):
            message, kind = annotations(value, stamp_ns), fox_channels.ImageAnnotationsChannel
        else:
            self.skipped += 1
            return False
        channel, first = self._channels.get(topic) or (None, kind)
        if first is not kind:
            self.skipped += 1
            self._mixed.warning("topic %r: a %s after %s messages; Foxglove shows one kind per "
                                "topic, so it is skipped", topic, type(value).__name__,
                                "image" if first is fox_channels.RawImageChannel else "result")
            return False
        if channel is None:
            channel = kind(topic, context=self.context)
            self._channels[topic] = (channel, kind)
        channel.log(message, log_time=log_time_ns if log_time_ns is not None else stamp_ns)
        self.logged += 1
        return True

    def close(self) -> None:
        for channel, _ in self._channels.values():
            channel.close()
