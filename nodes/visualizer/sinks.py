"""Where rendered frames go besides the web page: a desktop window or an MJPG .avi file."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from edge.errors import ConfigError


def display_available() -> bool:
    """A display is set and this OpenCV build has a GUI backend (headless wheels do not)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() not in ("", "NONE")
    return False


class WindowSink:
    """cv2.imshow from the node's own (main) thread; waitKey(1) keeps the window alive."""

    def __init__(self, title: str):
        if not display_available():
            raise ConfigError("sink 'window' needs a display ($DISPLAY) and an OpenCV build "
                              "with a GUI; use sink 'web' instead", "FAILED_PRECONDITION")
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE)

    def show(self, image: np.ndarray) -> None:
        cv2.imshow(self.title, image)
        cv2.waitKey(1)

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
        except cv2.error:
            pass


class VideoFileSink:
    """Motion-JPEG in AVI: needs no extra codecs and every OpenCV build writes it."""

    def __init__(self, path: str, fps: float):
        self.path, self.fps = Path(path), fps
        if not self.path.parent.is_dir():
            raise ConfigError(f"video_file folder does not exist: {self.path.parent}", "NOT_FOUND")
        if self.path.suffix.lower() != ".avi":
            raise ConfigError(f"video_file must end in .avi (MJPG): {self.path}",
                              "INVALID_ARGUMENT")
        self._writer: Optional[cv2.VideoWriter] = None
        self._size: tuple[int, int] = (0, 0)
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        if self._writer is None:
            self._size = (image.shape[1], image.shape[0])
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"MJPG"),
                                           self.fps, self._size)
            if not self._writer.isOpened():
                raise ConfigError(f"cannot write video file: {self.path}", "INVALID_ARGUMENT")
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
