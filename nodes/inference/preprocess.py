"""Turning a BGR uint8 camera frame into the tensor a model expects, from parameters.

A model_runner is configured by a launch file or by the model's input spec, not by code,
so every choice (size, aspect, padding, normalisation, channel order, layout) is a field.
The returned `Letterbox` maps model coordinates back to the frame, which box-producing
postprocessors need.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

LAYOUTS = ("nchw", "nhwc")
CHANNEL_ORDERS = ("bgr", "rgb")
PAD_ALIGNS = ("top-left", "center")
INPUT_DTYPES = ("float32", "float16", "uint8")


@dataclass(frozen=True)
class Letterbox:
    """How a frame was resized and padded: model_xy = source_xy * scale + offset."""

    scale_x: float
    scale_y: float
    offset_x: float = 0.0
    offset_y: float = 0.0

    def to_source(self, points: np.ndarray) -> np.ndarray:
        """Map [..., 2] (x, y) points in model pixels back to frame pixels."""
        points = np.asarray(points, dtype=np.float32)
        out = np.empty_like(points)
        out[..., 0] = (points[..., 0] - self.offset_x) / self.scale_x
        out[..., 1] = (points[..., 1] - self.offset_y) / self.scale_y
        return out


def normalize(image: np.ndarray, scale: float, mean: Sequence[float], std: Sequence[float],
              channel_order: str = "bgr", layout: str = "nchw") -> np.ndarray:
    """(pixel * scale - mean) / std as float32 with a leading batch axis of 1."""
    if channel_order == "rgb":
        image = image[..., ::-1]
    tensor = image.astype(np.float32) * np.float32(scale)
    tensor -= np.asarray(mean, dtype=np.float32)
    tensor /= np.asarray(std, dtype=np.float32)
    if layout == "nchw":
        tensor = tensor.transpose(2, 0, 1)
    return np.ascontiguousarray(tensor[None])


@dataclass(frozen=True)
class ImagePreprocess:
    """Resize / pad / normalise one frame into a batch-of-one model input."""

    size: tuple[int, int] | None = None   # (height, width); None keeps the frame size
    keep_aspect: bool = True
    pad_value: int = 0                      # in pixel units, before normalisation
    pad_align: str = "top-left"
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    channel_order: str = "bgr"
    layout: str = "nchw"
    limit_side_len: int = 0    # size None: shrink so the longer side is at most this (0: never)
    size_multiple: int = 1     # size None: round both sides to a multiple (32 for DB models)
    dtype: str = "float32"     # uint8 models get raw pixels: no scale, mean or std

    def __post_init__(self):
        for field, value, allowed in (("layout", self.layout, LAYOUTS),
                                      ("channel_order", self.channel_order, CHANNEL_ORDERS),
                                      ("pad_align", self.pad_align, PAD_ALIGNS)):
            if value not in allowed:
                raise ValueError(f"{field} must be one of {', '.join(allowed)}, got {value!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or not all(self.std):
            raise ValueError(f"mean and std need 3 values, std non-zero: {self.mean}, {self.std}")
        if self.size is not None and min(self.size) <= 0:
            raise ValueError(f"size must be positive (height, width), got {self.size}")
        if self.dtype not in INPUT_DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(INPUT_DTYPES)}, got {self.dtype!r}")
        if self.size_multiple < 1 or self.limit_side_len < 0:
            raise ValueError("size_multiple must be >= 1 and limit_side_len >= 0, got "
                             f"{self.size_multiple} and {self.limit_side_len}")

    @classmethod
    def from_input_shape(cls, shape: Sequence[int | str | None], **overrides) -> ImagePreprocess:
        """Guess layout and fixed size from an ONNX input shape like [N, 3, H, W]."""
        if len(shape) != 4:
            raise ValueError(f"expected a 4-d image input shape, got {list(shape)}")
        layout = "nhwc" if shape[3] in (1, 3) and shape[1] not in (1, 3) else "nchw"
        h, w = (shape[2], shape[3]) if layout == "nchw" else (shape[1], shape[2])
        size = (h, w) if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0 else None
        return cls(**{"layout": layout, "size": size, **overrides})

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        resized, box = self.resize(image)
        if self.dtype == "uint8":
            pixels = resized[..., ::-1] if self.channel_order == "rgb" else resized
            pixels = pixels.transpose(2, 0, 1) if self.layout == "nchw" else pixels
            return np.ascontiguousarray(pixels[None]), box
        tensor = normalize(resized, self.scale, self.mean, self.std, self.channel_order,
                           self.layout)
        return (tensor.astype(np.float16) if self.dtype == "float16" else tensor), box

    def resize(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        if self.size is None:
            return limit_resize(image, self.limit_side_len, self.size_multiple)
        height, width = self.size
        src_h, src_w = image.shape[:2]
        if not self.keep_aspect:
            resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
            return resized, Letterbox(width / src_w, height / src_h)
        ratio = min(width / src_w, height / src_h)
        new_w, new_h = max(1, round(src_w * ratio)), max(1, round(src_h * ratio))
        canvas = np.full((height, width, image.shape[2]), self.pad_value, dtype=image.dtype)
        x = (width - new_w) // 2 if self.pad_align == "center" else 0
        y = (height - new_h) // 2 if self.pad_align == "center" else 0
        canvas[y:y + new_h, x:x + new_w] = cv2.resize(image, (new_w, new_h),
                                                      interpolation=cv2.INTER_LINEAR)
        return canvas, Letterbox(new_w / src_w, new_h / src_h, x, y)


def limit_resize(image: np.ndarray, limit_side_len: int = 0,
                 multiple: int = 1) -> tuple[np.ndarray, Letterbox]:
    """Shrink so the longer side fits the limit, then round both sides to `multiple`.

    For models with dynamic height and width whose backbone downsamples (DB: by 32); the
    same arithmetic as nodes.ocr.detection.det_resize in its "max" mode.
    """
    h, w = image.shape[:2]
    ratio = min(1.0, limit_side_len / max(h, w)) if limit_side_len > 0 else 1.0
    new_h = max(multiple, int(round(h * ratio / multiple)) * multiple)
    new_w = max(multiple, int(round(w * ratio / multiple)) * multiple)
    if (new_h, new_w) != (h, w):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return image, Letterbox(new_w / w, new_h / h)
