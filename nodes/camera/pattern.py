"""A synthetic camera scene with known printed words, so OCR can be scored without hardware.

Everything drawn is a pure function of (seed, frame index, stamp): two runs with the same
seed give identical frames, which makes accuracy numbers and benchmarks comparable.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from nodes.camera.words import WORDS

Box = list[int]
Truth = list[tuple[str, Box]]

_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX)
_THICKNESS = 2
_BAND_HEIGHT_PX = 44


@dataclass(frozen=True)
class _Group:
    """The static part of a frame group: background and words, rendered once."""

    image: np.ndarray
    truth: Truth


class PatternScene:
    """Renders dark words on a light, slowly varying background plus a frame counter.

    The word set changes every `frames_per_set` frames, so a pipeline that shows stale
    results is visibly wrong. Words sit in a grid of cells so boxes never overlap.
    """

    def __init__(self, width: int = 640, height: int = 480, seed: int = 0,
                 frames_per_set: int = 15, rows: int = 5, cols: int = 2,
                 font_scale: tuple[float, float] = (1.2, 1.6)):
        if width < 160 or height < 120:
            raise ValueError(f"pattern scene too small: {width}x{height} (min 160x120)")
        if seed < 0:
            raise ValueError(f"pattern seed must be >= 0, got {seed}")
        self.width, self.height, self.seed = width, height, seed
        self.frames_per_set = max(1, frames_per_set)
        self.rows, self.cols = rows, cols
        self.font_scale = font_scale
        self._cached: tuple[int, _Group] | None = None

    def render(self, frame_index: int, stamp_ns: int | None = None) -> tuple[np.ndarray, Truth]:
        """Return a BGR frame and the (word, [x0, y0, x1, y1]) list printed in it."""
        if frame_index < 0:
            raise ValueError(f"frame_index must be >= 0, got {frame_index}")
        group = self._group(frame_index // self.frames_per_set)
        image = group.image.copy()
        self._draw_band(image, frame_index, time.time_ns() if stamp_ns is None else stamp_ns)
        return image, [(word, list(box)) for word, box in group.truth]

    def _group(self, group_index: int) -> _Group:
        if self._cached is None or self._cached[0] != group_index:
            rng = np.random.default_rng([self.seed, group_index])
            image = self._background(rng)
            truth = self._draw_words(image, rng)
            self._cached = (group_index, _Group(image, truth))
        return self._cached[1]

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        """A pale two-colour gradient with faint blobs: variation without hurting contrast."""
        top = rng.uniform(215, 250, size=3)
        bottom = rng.uniform(200, 245, size=3)
        ramp = np.linspace(0.0, 1.0, self.height, dtype=np.float32)[:, None]
        column = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
        image = np.repeat(column[:, None, :], self.width, axis=1)
        for _ in range(3):
            center = (int(rng.integers(0, self.width)), int(rng.integers(0, self.height)))
            axes = (int(rng.integers(30, 120)), int(rng.integers(20, 80)))
            color = tuple(int(c) for c in rng.uniform(190, 235, size=3))
            cv2.ellipse(image, center, axes, float(rng.uniform(0, 180)), 0, 360, color, -1)
        return image

    def _draw_words(self, image: np.ndarray, rng: np.random.Generator) -> Truth:
        cell_w = self.width // self.cols
        cell_h = (self.height - _BAND_HEIGHT_PX) // self.rows
        truth: Truth = []
        for row in range(self.rows):
            for col in range(self.cols):
                if rng.random() < 0.15:
                    continue
                x0, y0 = col * cell_w, _BAND_HEIGHT_PX + row * cell_h
                placed = self._draw_word(image, rng, (x0, y0, cell_w, cell_h))
                if placed is not None:
                    truth.append(placed)
        return truth

    def _draw_word(self, image: np.ndarray, rng: np.random.Generator,
                   cell: tuple[int, int, int, int]) -> tuple[str, Box] | None:
        """Place one word inside its cell with a margin; None if nothing fits."""
        x0, y0, cell_w, cell_h = cell
        margin = 12
        font = _FONTS[int(rng.integers(len(_FONTS)))]
        for _ in range(8):
            word = WORDS[int(rng.integers(len(WORDS)))]
            scale = float(rng.uniform(*self.font_scale))
            (w, h), baseline = cv2.getTextSize(word, font, scale, _THICKNESS)
            slack_x, slack_y = cell_w - w - 2 * margin, cell_h - h - baseline - 2 * margin
            if slack_x >= 0 and slack_y >= 0:
                break
        else:
            return None
        x = x0 + margin + int(rng.integers(0, slack_x + 1))
        y = y0 + margin + h + int(rng.integers(0, slack_y + 1))
        color = tuple(int(c) for c in rng.uniform(0, 70, size=3))
        cv2.putText(image, word, (x, y), font, scale, color, _THICKNESS, cv2.LINE_AA)
        return word, _ink_box(word, (x, y), font, scale, (x0, y0, cell_w, cell_h))

    def _draw_band(self, image: np.ndarray, frame_index: int, stamp_ns: int) -> None:
        """Counter, wall-clock stamp and a moving marker: these change on every frame."""
        image[:_BAND_HEIGHT_PX] = (235, 235, 235)
        seconds, nanos = divmod(stamp_ns, 1_000_000_000)
        clock = time.strftime("%H:%M:%S", time.gmtime(seconds)) + f".{nanos // 1_000_000:03d}"
        label = f"frame {frame_index:06d}  {clock}"
        cv2.putText(image, label, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (40, 40, 40), 2,
                    cv2.LINE_AA)
        marker_x = self.width - 60 + (frame_index % 50)
        cv2.circle(image, (min(marker_x, self.width - 8), 22), 6, (120, 160, 200), -1)


def _ink_box(word: str, origin: tuple[int, int], font: int, scale: float,
             cell: tuple[int, int, int, int]) -> Box:
    """Tight bounds of the drawn strokes: getTextSize's box is loose for lower case."""
    x0, y0, cell_w, cell_h = cell
    mask = np.zeros((cell_h, cell_w), dtype=np.uint8)
    cv2.putText(mask, word, (origin[0] - x0, origin[1] - y0), font, scale, 255, _THICKNESS,
                cv2.LINE_AA)
    x, y, w, h = cv2.boundingRect(mask)
    return [x0 + x, y0 + y, x0 + x + w, y0 + y + h]
