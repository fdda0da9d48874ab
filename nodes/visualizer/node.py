"""The `visualizer` node type: boxes, text, fps and end-to-end latency drawn on live frames.

It never draws a result on a frame it was not computed from. A result names its frame by
(frame_id, stamp_ns); with `align: frame` (the default) the view shows that frame, kept in
a ring of `frames_kept`, so it lags by the pipeline latency. With `align: latest` it shows
the newest frame, and results from an older one are drawn grey under a STALE banner.

Latency is measured when a result arrives: now - stamp_ns, the capture time of the frame
it was computed from. Frames are drawn at most `max_fps` times a second and only when some
sink shows them (a window, a video file, or a web viewer that asked recently).
"""
from __future__ import annotations

import collections
import logging

import cv2

from edge.errors import ConfigError
from edge.nodetype import NodeType, Param, Port
from messages import Stats
from nodes.metrics import RateMeter, Window
from nodes.visualizer.overlay import draw
from nodes.visualizer.sinks import VideoFileSink, WindowSink, display_available
from nodes.visualizer.web import LatestFrame, WebView

log = logging.getLogger("nodes.visualizer")

RESULT_INPUTS = ("text", "detections")


class Visualizer(NodeType):
    """Shows a frame stream with the latest results over it; reports fps and latency."""

    inputs = {
        "image": Port("Image", dtype="uint8", shape=["height", "width", 3], help="frames"),
        "text": Port("Text", help="recognised strings and their boxes"),
        "detections": Port("Detections", help="boxes (and polygons) to outline"),
    }
    outputs = {
        "stats": Port("Stats", help="fps, result fps, latency p50/p99; every stats_period_s"),
        "latency": Port("Stats", help="one per result: frame_id, latency_ms (capture to "
                                      "arrival here), frames_behind; stamp_ns = capture"),
    }
    parameters = {
        "sink": Param(str, default="auto", choices=("auto", "web", "window", "none"),
                      help="auto = a window if a display exists, else the web page"),
        "host": Param(str, default="127.0.0.1", help="web sink address"),
        "port": Param(int, default=0, help="web sink port; 0 = any free port (printed)"),
        "video_file": Param(str, default="", help="also write the view to this MJPG .avi"),
        "max_fps": Param(float, default=15.0, runtime=True, help="most frames drawn per second"),
        "jpeg_quality": Param(int, default=80, runtime=True, help="web sink JPEG quality"),
        "align": Param(str, default="frame", choices=("frame", "latest"),
                       help="frame: results on the frame they came from (the view lags by the "
                            "latency); latest: the newest frame, older results marked STALE"),
        "frames_kept": Param(int, default=60, help="align=frame: frames held for results "
                                                   "(must cover camera fps x latency)"),
        "frames_kept_mb": Param(float, default=256.0, help="align=frame: most memory those "
                                                           "frames may take"),
        "result_max_age_s": Param(float, default=5.0,
                                  help="results captured this long before the newest frame are "
                                       "not drawn (the view shows the newest frame bare)"),
        "stats_period_s": Param(float, default=1.0, help="how often stats are published"),
    }

    def run(self, node) -> None:
        view = View(node)
        try:
            view.run()
        finally:
            view.close()


class View:
    def __init__(self, node):
        self.node, self.params = node, node.params
        if "image" not in node.config.inputs:
            raise ConfigError("the `image` input must be connected", "INVALID_ARGUMENT")
        self.frames: collections.OrderedDict = collections.OrderedDict()  # (id, stamp) -> Image
        self.frames_bytes = 0
        self.newest = None                     # (key, Image)
        self.results: dict[str, tuple] = {}    # input name -> (key, message)
        self.primary = next((n for n in RESULT_INPUTS if n in node.config.inputs), None)
        self.frame_rate = RateMeter(clock=node.clock.monotonic)
        self.result_rate = RateMeter(clock=node.clock.monotonic)
        self.latency_ms, self.behind = Window(500), 0
        self.dropped_frames, self.rendered, self._last_drawn = 0, 0, None
        self.slot, self.web, self.window, self.video = LatestFrame(), None, None, None
        self._open_sinks()
        if self.params["align"] == "frame":
            queue = max(self.params["frames_kept"], node.config.inputs["image"].queue_size)
            node.subscribe("image", queue_size=queue)
        node.timer("render", 1.0 / max(0.1, self.params["max_fps"]))
        node.timer("stats", self.params["stats_period_s"])

    def _open_sinks(self) -> None:
        sink = self.params["sink"]
        if sink == "auto":
            sink = "window" if display_available() else "web"
        if sink == "window":
            self.window = WindowSink(self.node.name)
        elif sink == "web":
            try:
                self.web = WebView(self.slot, self.params["host"], self.params["port"],
                                   title=f"{self.node.name} - edge visualizer")
            except OSError as exc:
                raise ConfigError(f"cannot serve on {self.params['host']}:"
                                  f"{self.params['port']}: {exc.strerror or exc}",
                                  "UNAVAILABLE") from None
            print(f"visualizer {self.node.name}: {self.web.url}", flush=True)
        if self.params["video_file"]:
            self.video = VideoFileSink(self.params["video_file"], self.params["max_fps"])

    def run(self) -> None:
        for event in self.node:
            if event.kind == "input" and event.name == "image":
                self._on_frame(event)
            elif event.kind == "input" and event.name in RESULT_INPUTS:
                self._on_result(event)
            elif event.kind == "timer" and event.name == "render":
                self._render()
            elif event.kind == "timer" and event.name == "stats":
                self._publish_stats()
            elif event.kind == "param" and event.name == "max_fps":
                self.node.timer("render", 1.0 / max(0.1, event.value))

    def _on_frame(self, event) -> None:
        key = (event.value.frame_id, event.stamp_ns)
        self.newest = (key, event.value)
        self.frame_rate.tick()
        self.dropped_frames += event.dropped
        if self.params["align"] == "frame":
            self.frames[key] = event.value
            self.frames_bytes += event.value.data.nbytes
            max_bytes = self.params["frames_kept_mb"] * 1e6
            while len(self.frames) > 1 and (len(self.frames) > self.params["frames_kept"]
                                            or self.frames_bytes > max_bytes):
                self.frames_bytes -= self.frames.popitem(last=False)[1].data.nbytes

    def _on_result(self, event) -> None:
        key = (event.value.frame_id, event.stamp_ns)
        self.results[event.name] = (key, event.value)
        if event.name != self.primary:
            return
        latency_ms = (self.node.clock.time_ns() - event.stamp_ns) / 1e6
        self.latency_ms.add(latency_ms)
        self.result_rate.tick()
        self.behind = max(0, self.newest[0][0] - key[0]) if self.newest else 0
        if "latency" in self.node.config.outputs:
            self.node.publish("latency", Stats(self.node.name, {
                "frame_id": key[0], "latency_ms": round(latency_ms, 3),
                "frames_behind": self.behind}), stamp_ns=event.stamp_ns, parent=event)

    def _render(self) -> None:
        if self.newest is None or not (self.window or self.video or self.slot.watched()):
            return
        key, frame, results, stale = self._choose()
        drawn_state = (key, tuple(rkey for rkey, _ in results.values()))
        if drawn_state == self._last_drawn:
            return
        self._last_drawn = drawn_state
        image = draw(frame.data, *(results.get(n, (None, None))[1] for n in RESULT_INPUTS),
                     status=self._status(), stale=stale)
        self.rendered += 1
        if self.window:
            self.window.show(image)
        if self.video:
            self.video.write(image)
        if self.web:
            ok, jpeg = cv2.imencode(".jpg", image,
                                    [cv2.IMWRITE_JPEG_QUALITY, self.params["jpeg_quality"]])
            if ok:
                self.slot.put(jpeg.tobytes(), _view_meta(key, results, stale))

    def _choose(self) -> tuple:
        """(frame key, frame, {input: (key, result)} to draw, stale reason or "")."""
        newest_key, newest = self.newest
        max_age_ns = self.params["result_max_age_s"] * 1e9
        fresh = {name: entry for name, entry in self.results.items()
                 if newest_key[1] - entry[0][1] <= max_age_ns}
        if self.params["align"] == "frame":
            primary = fresh.get(self.primary)
            if primary is None or primary[0] not in self.frames:
                return newest_key, newest, {}, ""     # nothing computed from a frame we still have
            key = primary[0]
            return key, self.frames[key], {n: e for n, e in fresh.items() if e[0] == key}, ""
        behind = [newest_key[0] - e[0][0] for e in fresh.values() if e[0] != newest_key]
        stale = f"results from {max(behind)} frame(s) before this one" if behind else ""
        return newest_key, newest, fresh, stale

    def _status(self) -> list[str]:
        status = [f"camera {self.frame_rate.rate():.1f} fps"]
        if self.primary:
            status += [f"results {self.result_rate.rate():.1f} fps",
                       f"latency {self.latency_ms.last:.0f} ms", f"{self.behind} frames behind"]
        return status

    def _stats(self) -> dict:
        return {"camera_fps": round(self.frame_rate.rate(), 3),
                "result_fps": round(self.result_rate.rate(), 3),
                "latency_ms": round(self.latency_ms.last, 3),
                "latency_p50_ms": round(self.latency_ms.percentile(50), 3),
                "latency_p99_ms": round(self.latency_ms.percentile(99), 3),
                "frames_behind": self.behind, "frames": self.frame_rate.count,
                "results": self.result_rate.count, "dropped_frames": self.dropped_frames,
                "rendered": self.rendered}

    def _publish_stats(self) -> None:
        stats = self._stats()
        self.slot.put_stats(stats)
        if "stats" in self.node.config.outputs:
            self.node.publish("stats", Stats(self.node.name, stats))

    def close(self) -> None:
        for sink in (self.web, self.window, self.video):
            if sink is not None:
                sink.close()


def _view_meta(key: tuple, results: dict, stale: str) -> dict:
    """What one rendered image shows: its frame, and each drawn result's frame and strings."""
    return {"frame_id": key[0], "stamp_ns": key[1], "stale": stale,
            "results": {name: {"frame_id": rkey[0], "stamp_ns": rkey[1],
                               "strings": list(getattr(message, "strings", None) or [])}
                        for name, (rkey, message) in results.items()}}
