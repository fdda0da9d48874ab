"""The `camera` node type: frames from a pattern, a device, a video file or images, paced.

Pacing follows a monotonic schedule (frame k is due at start + k * period), so rounding and
slow frames never accumulate into drift; a frame that misses its slot is skipped and
counted, not sent late. `stamp_ns` is taken at capture and travels with every result
derived from the frame.
"""
from __future__ import annotations

import logging
import time

import cv2
import numpy as np

from edge.errors import ConfigError, Unavailable
from edge.nodetype import NodeType, Param, Port
from messages import Image, Stats, Text
from nodes.camera.sources import DeviceSource, PatternSource, SourceError, open_source
from nodes.metrics import RateMeter

log = logging.getLogger("nodes.camera")

PATTERN_SIZE = (640, 480)
FLUSH_S = 0.5  # after the last frame of a file: time for zmq to send what is queued


class Pacer:
    """Deadlines on a fixed grid; `period_s` 0 means as fast as possible."""

    def __init__(self, period_s: float, clock=time.monotonic):
        self._clock = clock
        self.skipped = 0
        self.reset(period_s)

    def reset(self, period_s: float) -> None:
        self.period_s = period_s
        self._due = self._clock()

    def wait_s(self) -> float:
        return max(0.0, self._due - self._clock()) if self.period_s > 0 else 0.0

    def advance(self) -> None:
        """Schedule the next frame; slots already missed are skipped and counted."""
        if self.period_s <= 0:
            return
        now = self._clock()
        self._due += self.period_s
        if now >= self._due:
            missed = int((now - self._due) // self.period_s) + 1
            self.skipped += missed
            self._due += missed * self.period_s


def _period(fps: float) -> float:
    return 1.0 / fps if fps > 0 else 0.0


class Camera(NodeType):
    """Publishes frames; the pattern source also publishes the words it drew as `truth`."""

    outputs = {
        "image": Port("Image", dtype="uint8", shape=["height", "width", 3],
                      help="bgr8 frames, stamp_ns = capture time, frame_id counts up from 0"),
        "truth": Port("Text", help="pattern source only: words drawn in the frame of the "
                                   "same frame_id and stamp_ns, with their boxes"),
        "stats": Port("Stats", help="fps, frames, skipped slots; every stats_period_s"),
    }
    parameters = {
        "source": Param((str, int), default="pattern",
                        help="'pattern', a device index, a video file, an image folder or glob"),
        "fps": Param(float, default=15.0, runtime=True,
                     help="frames per second; 0 = as fast as the source gives them"),
        "width": Param(int, default=0, help="output width; 0 = the source's (pattern: 640)"),
        "height": Param(int, default=0, help="output height; 0 = the source's (pattern: 480)"),
        "loop": Param(bool, default=False, help="restart a video file or image folder at its end"),
        "seed": Param(int, default=0, help="pattern source: which word sets are drawn"),
        "frames_per_set": Param(int, default=15, help="pattern source: frames per word set"),
        "start_delay_s": Param(float, default=0.0,
                               help="wait before the first frame so subscribers can connect"),
        "stats_period_s": Param(float, default=1.0, help="how often to publish stats"),
    }
    truth_outputs = ("truth",)

    @classmethod
    def score(cls, port: str, truth, value):
        """Recognised text is scored word by word against the words drawn in its frame."""
        if port != "truth" or not isinstance(value, Text) or not isinstance(truth, Text):
            return None
        from nodes.ocr.scoring import word_accuracy

        result = word_accuracy(list(zip(truth.strings, truth.boxes.tolist())),
                               list(zip(value.strings, value.boxes.tolist())))
        return result.correct, result.total

    def run(self, node) -> None:
        params = node.params
        self._stamp_ns = 0
        source = _open(params, clock_ns=lambda: self._stamp_ns)
        clock = node.clock
        pacer = Pacer(_period(params["fps"]), clock.monotonic)
        self._node, self._source, self._meter = node, source, RateMeter(clock=clock.monotonic)
        self._frame_id, self._pacer = 0, pacer
        self._size = _output_size(params, source)
        if "stats" in node.config.outputs:
            node.timer("stats", params["stats_period_s"])
        try:
            if not _wait(node, params["start_delay_s"]):
                return
            pacer.reset(pacer.period_s)
            while True:
                event = node.next_event(timeout_s=pacer.wait_s())
                if event is None:
                    if not self._capture():
                        _wait(node, FLUSH_S)
                        return
                    pacer.advance()
                elif event.kind == "stop":
                    return
                elif event.kind == "param" and event.name == "fps":
                    pacer.reset(_period(event.value))
                elif event.kind == "timer" and event.name == "stats":
                    self._publish_stats()
        finally:
            source.close()

    def _capture(self) -> bool:
        """Read, stamp and publish one frame; False at the end of a finite source."""
        stamp_ns = self._stamp_ns = self._node.clock.time_ns()  # the pattern prints this stamp
        try:
            ok, image = self._source.read()
        except SourceError as exc:
            raise ConfigError(str(exc), exc.code) from None
        if not ok:
            if isinstance(self._source, DeviceSource):
                raise Unavailable(f"camera device {self._source.index} stopped delivering frames")
            log.info("%s: end of source %s after %d frame(s)", self._node.name,
                     self._node.params["source"], self._frame_id)
            return False
        if isinstance(self._source, DeviceSource):
            stamp_ns = self._node.clock.time_ns()  # read() waited for the sensor: the frame is from now
        image = _fit(image, self._size)
        frame_id, self._frame_id = self._frame_id, self._frame_id + 1
        self._node.publish("image", Image(image, "bgr8", frame_id), stamp_ns=stamp_ns)
        if isinstance(self._source, PatternSource) and "truth" in self._node.config.outputs:
            self._node.publish("truth", _truth(self._source, frame_id), stamp_ns=stamp_ns)
        self._meter.tick()
        return True

    def _publish_stats(self) -> None:
        self._node.publish("stats", Stats(self._node.name, {
            "fps": round(self._meter.rate(), 3), "frames": self._meter.count,
            "skipped_slots": self._pacer.skipped, "target_fps": self._node.params["fps"]}))


def _open(params: dict, clock_ns):
    source, width, height = params["source"], params["width"], params["height"]
    if width < 0 or height < 0 or params["fps"] < 0:
        raise ConfigError("width, height and fps must be >= 0", "INVALID_ARGUMENT")
    try:
        if source == "pattern":
            w, h = width or PATTERN_SIZE[0], height or PATTERN_SIZE[1]
            return PatternSource(w, h, params["seed"], params["frames_per_set"], clock_ns)
        return open_source(source, loop=params["loop"], width=width, height=height,
                           seed=params["seed"])
    except SourceError as exc:
        raise ConfigError(str(exc), exc.code) from None
    except ValueError as exc:
        raise ConfigError(str(exc), "INVALID_ARGUMENT") from None


def _output_size(params: dict, source) -> tuple[int, int] | None:
    """(width, height) every frame is resized to, or None to pass frames as they come."""
    if isinstance(source, PatternSource) or not (params["width"] or params["height"]):
        return None
    return params["width"], params["height"]


def _fit(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """A contiguous 3-channel uint8 frame of the configured size."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if size is not None:
        width = size[0] or round(image.shape[1] * size[1] / image.shape[0])
        height = size[1] or round(image.shape[0] * size[0] / image.shape[1])
        if (image.shape[1], image.shape[0]) != (width, height):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image, dtype=np.uint8)


def _truth(source: PatternSource, frame_id: int) -> Text:
    words = source.last_truth
    boxes = np.array([box for _, box in words], np.float32).reshape(-1, 4)
    return Text([word for word, _ in words], boxes, frame_id=frame_id)


def _wait(node, duration_s: float) -> bool:
    """Serve events for `duration_s`; False if Stop came meanwhile."""
    deadline = node.clock.monotonic() + duration_s
    while (remaining := deadline - node.clock.monotonic()) > 0:
        event = node.next_event(timeout_s=remaining)
        if event is not None and event.kind == "stop":
            return False
    return True
