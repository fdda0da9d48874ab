"""Where camera frames come from: the synthetic pattern, a device, a video file or images.

All sources share one tiny interface (read, close, frame_count) so the camera node's
pacing loop does not care which one it has. Opening checks the source up front and fails
with one line naming the missing or unreadable thing, not with a None frame later.
"""
from __future__ import annotations

import contextlib
import glob
import time
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from nodes.camera.pattern import PatternScene, Truth

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
Frame = tuple[bool, "np.ndarray | None"]


class SourceError(Exception):
    """A source cannot be opened or read; `code` follows the reply error codes."""

    def __init__(self, message: str, code: str = "NOT_FOUND"):
        super().__init__(message)
        self.code = code


@contextlib.contextmanager
def _quiet_opencv():
    """OpenCV logs several lines per failed open; the SourceError we raise is the one line."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


class FrameSource(Protocol):
    frame_count: int | None   # None when endless or unknown

    def read(self) -> Frame: ...
    def close(self) -> None: ...


class _Closing:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass


class PatternSource(_Closing):
    """Endless synthetic frames; `last_truth` holds the words printed in the last frame."""

    frame_count = None

    def __init__(self, width: int = 640, height: int = 480, seed: int = 0,
                 frames_per_set: int = 15, clock_ns: Callable[[], int] = time.time_ns):
        self.scene = PatternScene(width, height, seed, frames_per_set)
        self.frame_index = 0
        self.last_truth: Truth = []
        self._clock_ns = clock_ns

    def read(self) -> Frame:
        image, self.last_truth = self.scene.render(self.frame_index, self._clock_ns())
        self.frame_index += 1
        return True, image


class DeviceSource(_Closing):
    frame_count = None

    def __init__(self, index: int, width: int | None = None, height: int | None = None):
        self.index = index
        with _quiet_opencv():
            self._capture = cv2.VideoCapture(index)
        if not self._capture.isOpened():
            self._capture.release()
            raise SourceError(f"camera device {index} cannot be opened")
        if width:
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)

    def read(self) -> Frame:
        ok, image = self._capture.read()
        return (True, image) if ok else (False, None)

    def close(self) -> None:
        self._capture.release()


class VideoFileSource(_Closing):
    """Decodes the first frame while opening, so a corrupt file fails here, not mid-stream."""

    def __init__(self, path: str | Path, loop: bool = False):
        self.path, self.loop = Path(path), loop
        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path}")
        self._capture, self._pending = self._open()
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 else None

    def _open(self) -> tuple[cv2.VideoCapture, np.ndarray]:
        with _quiet_opencv():
            capture = cv2.VideoCapture(str(self.path))
            ok, first = capture.read() if capture.isOpened() else (False, None)
        if not ok:
            capture.release()
            raise SourceError(f"cannot decode video file: {self.path}", "INVALID_ARGUMENT")
        return capture, first

    def read(self) -> Frame:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return True, image
        ok, image = self._capture.read()
        if ok:
            return True, image
        if not self.loop:
            return False, None
        self._capture.release()  # reopening is reliable where seeking to 0 is not
        self._capture, image = self._open()
        return True, image

    def close(self) -> None:
        self._capture.release()
        self._pending = None


class ImageFolderSource(_Closing):
    """Images in name order from a folder, a glob pattern, or one file."""

    def __init__(self, pattern: str | Path, loop: bool = False):
        self.pattern, self.loop = str(pattern), loop
        self.files = _list_images(self.pattern)
        self.frame_count = len(self.files)
        self._next = 0

    def read(self) -> Frame:
        if self._next >= len(self.files):
            if not self.loop:
                return False, None
            self._next = 0
        path = self.files[self._next]
        self._next += 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"cannot decode image file: {path}", "INVALID_ARGUMENT")
        return True, image


def _list_images(pattern: str) -> list[Path]:
    if any(ch in pattern for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_file())
        if not files:
            raise SourceError(f"no files match image pattern: {pattern}")
        return files
    path = Path(pattern)
    if path.is_file():
        return [path]
    if not path.is_dir():
        kind = "image file" if path.suffix.lower() in IMAGE_SUFFIXES else "image folder"
        raise SourceError(f"{kind} not found: {path}")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder: {path}")
    return files


def open_source(source: str | int = "pattern", *, loop: bool = False, width: int = 640,
                height: int = 480, seed: int = 0) -> FrameSource:
    """Pick a source from one launch-file value: "pattern", a device index, or a path."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return DeviceSource(int(source), width, height)
    if source == "pattern":
        return PatternSource(width, height, seed)
    path = Path(source)
    if any(ch in str(source) for ch in "*?[") or path.is_dir() \
            or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageFolderSource(str(source), loop)
    if not path.exists() and not path.suffix:
        raise SourceError(f"video file or image folder not found: {path}")
    return VideoFileSource(path, loop)
