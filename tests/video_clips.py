"""Small video files and images for the camera's frame sources: frame i is green level
`value`, with the value written on it, so a test can tell which frame it got."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def numbered_frame(value: int) -> np.ndarray:
    image = np.zeros((96, 128, 3), dtype=np.uint8)
    image[:, :, 1] = value
    cv2.putText(image, str(value), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 2)
    return image


def write_clip(path: Path, values: list[int], fps: float = 10) -> Path:
    """An MJPG .avi of 128x96 numbered frames, one per value."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (128, 96))
    assert writer.isOpened()
    for value in values:
        writer.write(numbered_frame(value))
    writer.release()
    return path
