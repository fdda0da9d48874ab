"""Matching results to the frame they came from, when both arrive on separate topics.

The recognizer gets frames straight from the camera and boxes from the detector, later.
Frames wait in a short ring; a result waits until its frame arrives, and is dropped once
a newer frame shows its own frame will never come. The key is (frame_id, stamp_ns): a
restarted camera counts frame ids from 0 again, but never repeats a capture time.
"""
from __future__ import annotations

import collections
from typing import Any, Optional

Key = tuple[int, int]


class FramePairs:
    def __init__(self, frames_kept: int = 16):
        self._frames: collections.OrderedDict[Key, Any] = collections.OrderedDict()
        self._kept = max(1, frames_kept)
        self._pending: Optional[tuple[Key, Any]] = None
        self.unmatched = 0   # results whose frame never arrived or had already left the ring
        self.replaced = 0    # results superseded by a newer one before their frame came

    def add_frame(self, key: Key, frame: Any) -> Optional[tuple[Any, Any]]:
        """Keep a frame; returns (frame, result) if the pending result was waiting for it."""
        self._frames[key] = frame
        while len(self._frames) > self._kept:
            self._frames.popitem(last=False)
        return self._match()

    def add_result(self, key: Key, result: Any) -> Optional[tuple[Any, Any]]:
        """A result for frame `key`; returns (frame, result) at once if the frame is here."""
        if self._pending is not None:
            self.replaced += 1
        self._pending = (key, result)
        return self._match()

    def _match(self) -> Optional[tuple[Any, Any]]:
        """Frames arrive in capture order: once a newer frame is here, an absent one never comes."""
        if self._pending is None:
            return None
        key, result = self._pending
        frame = self._frames.get(key)
        if frame is not None:
            self._pending = None
            return frame, result
        if self._frames and next(reversed(self._frames))[1] > key[1]:
            self._pending = None
            self.unmatched += 1
        return None
