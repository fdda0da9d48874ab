"""Drawing results and a status bar onto a copy of a frame (received frames are read-only)."""
from __future__ import annotations

from typing import Optional, Sequence

import cv2
import numpy as np

from messages import Detections, Text

TEXT_COLOR = (0, 170, 0)        # bgr
DETECTION_COLOR = (220, 120, 0)
STALE_COLOR = (128, 128, 128)   # results not computed from the frame they are drawn on
BANNER_COLOR = (0, 140, 255)
LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX
BAR_HEIGHT_PX = 26


def draw(frame: np.ndarray, text: Optional[Text] = None, detections: Optional[Detections] = None,
         status: Sequence[str] = (), stale: str = "") -> np.ndarray:
    """A new BGR image: detections as thin boxes, recognised text as outlined strings.

    `stale` (a reason) says the results come from another frame: they are drawn grey, their
    labels marked "?", under a banner with the reason.
    """
    canvas = np.array(frame, dtype=np.uint8, copy=True)
    if canvas.shape[2] == 1:
        canvas = cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)
    if detections is not None:
        color = STALE_COLOR if stale else DETECTION_COLOR
        _outlines(canvas, _quads(detections.polygons, detections.boxes), color, 1)
    if text is not None:
        color = STALE_COLOR if stale else TEXT_COLOR
        quads = _quads(text.polygons, text.boxes)
        _outlines(canvas, quads, color, 2)
        for quad, string in zip(quads, text.strings):
            _label(canvas, f"? {string}" if stale else string, quad, color)
    if stale:
        _banner(canvas, f"STALE: {stale}")
    if status:
        _status_bar(canvas, "  |  ".join(status))
    return canvas


def _quads(polygons: Optional[np.ndarray], boxes: np.ndarray) -> np.ndarray:
    if polygons is not None:
        return np.round(polygons).astype(np.int32)
    x0, y0, x1, y1 = (boxes[:, i] for i in range(4))
    corners = np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1),
                        np.stack([x1, y1], 1), np.stack([x0, y1], 1)], 1)
    return np.round(corners).astype(np.int32)


def _outlines(canvas: np.ndarray, quads: np.ndarray, color, thickness: int) -> None:
    if len(quads):
        cv2.polylines(canvas, list(quads), True, color, thickness, cv2.LINE_AA)


def _label(canvas: np.ndarray, string: str, quad: np.ndarray, color=TEXT_COLOR) -> None:
    """The string on a filled tag just above its box (below it at the top edge)."""
    string = string.encode("ascii", "replace").decode()  # Hershey fonts are ASCII only
    (w, h), base = cv2.getTextSize(string, LABEL_FONT, 0.5, 1)
    x, top = int(quad[:, 0].min()), int(quad[:, 1].min())
    y = top - 4 if top - h - base - 4 >= 0 else int(quad[:, 1].max()) + h + 4
    x = max(0, min(x, canvas.shape[1] - w - 2))
    cv2.rectangle(canvas, (x, y - h - 2), (x + w + 2, y + base), color, -1)
    cv2.putText(canvas, string, (x + 1, y), LABEL_FONT, 0.5, (255, 255, 255), 1, cv2.LINE_AA)


def _status_bar(canvas: np.ndarray, line: str) -> None:
    height = canvas.shape[0]
    top = max(0, height - BAR_HEIGHT_PX)
    bar = canvas[top:]
    bar[:] = (bar.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken: readable on any frame
    cv2.putText(canvas, line, (8, height - 8), LABEL_FONT, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)


def _banner(canvas: np.ndarray, line: str) -> None:
    (w, h), base = cv2.getTextSize(line, LABEL_FONT, 0.6, 2)
    cv2.rectangle(canvas, (0, 0), (min(canvas.shape[1], w + 16), h + base + 12), BANNER_COLOR, -1)
    cv2.putText(canvas, line, (8, h + 6), LABEL_FONT, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
