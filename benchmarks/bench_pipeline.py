"""The 4-node OCR demo (one process per node) against the same work in one process.

Both read pattern frames from the same seed, with a new word set in every frame. The run
alternates segments: the single process for a while, then the pipeline, then the single
process again. The pipeline is paused by setting the camera's fps through its parameter
service, so the two never compete for the cores, and background load hits both alike.
Reported: results per second, capture-to-result latency p50/p99 and word accuracy. For the
pipeline, the visualizer measures latency as now - stamp_ns when a result arrives. For the
single process it is render start to result.

Nodes start as `python -m edge.run` processes with NodeConfig JSON, as the supervisor
starts them, wired as in launch/ocr_demo.yaml.

Run from the repository root:  python -m benchmarks.bench_pipeline --rounds 4
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge.client import Client
from nodes.camera.pattern import PatternScene
from nodes.metrics import percentile
from nodes.ocr.pipeline import SingleProcessOCR
from nodes.ocr.scoring import WordScore, word_accuracy

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "nodes"))
from process_graph import Graph, load_launch  # noqa: E402  (the tests' stand-in launcher)

PAUSED_FPS = 0.001
SETTLE_S = 1.5    # after resuming: let the first frames fill the pipeline before counting


@dataclass
class Tally:
    results: int = 0
    seconds: float = 0.0
    latencies: list = field(default_factory=list)
    score: WordScore = field(default_factory=WordScore)

    @property
    def fps(self) -> float:
        return self.results / self.seconds if self.seconds else 0.0


class SingleProcess:
    def __init__(self, args):
        self.scene = PatternScene(640, 480, args.seed, frames_per_set=1)
        self.ocr = SingleProcessOCR(intra_op_threads=args.single_threads)
        self.ocr(self.scene.render(10**6, 0)[0])  # warm-up on an unscored frame
        self.index, self.tally = 0, Tally()

    def segment(self, seconds: float) -> None:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            stamp_ns = time.time_ns()
            image, truth = self.scene.render(self.index, stamp_ns)
            result = self.ocr(image)
            self.tally.latencies.append((time.time_ns() - stamp_ns) / 1e6)
            self.tally.score += word_accuracy(truth, result.words())
            self.tally.results += 1
            self.index += 1
        self.tally.seconds += time.perf_counter() - start


class Pipeline:
    def __init__(self, args):
        self.args, self.graph, self.tally = args, Graph(), Tally()
        self.truths, self.texts, self.stats = {}, {}, {}
        self._first_result = False
        self.graph.start(self._specs(args))
        self.probe = self.graph.probe({"latency": "visualizer/latency", "text": "text/strings",
                                       "truth": "camera/truth", "det": "detector/stats",
                                       "rec": "recognizer/stats"}, queue_size=100_000)
        self.camera = Client(self.graph.endpoint("camera-svc"), timeout_s=5.0)
        self._run_until(lambda: self._first_result, timeout_s=120)  # models loaded, flowing
        self._set_fps(PAUSED_FPS)
        self._drain(2.0)

    def _specs(self, args) -> list[dict]:
        def given(**values):
            return {key: value for key, value in values.items() if value is not None}

        overrides = {
            "camera": {"fps": args.camera_fps, "frames_per_set": 1, "seed": args.seed},
            "detector": given(threads=args.det_threads, spin_wait=args.spin_wait),
            "recognizer": given(threads=args.rec_threads, spin_wait=args.spin_wait,
                                frames_kept=args.rec_frames_kept),
            "visualizer": {"sink": "none"},
        }
        specs = load_launch(REPO / "launch" / "ocr_demo.yaml", overrides)
        for spec in specs:
            if spec["name"] == "camera":
                spec["service"] = self.graph.endpoint("camera-svc")
            if args.no_gate:
                spec["inputs"] = {k: v for k, v in (spec.get("inputs") or {}).items()
                                  if k != "gate"}
        return specs

    def segment(self, seconds: float) -> None:
        self._set_fps(self.args.camera_fps)
        counting_from = time.monotonic() + SETTLE_S
        end = time.monotonic() + seconds
        self._run_until(lambda: time.monotonic() >= end, timeout_s=seconds + 5,
                        counting_from=counting_from)
        self.tally.seconds += end - counting_from
        self._set_fps(PAUSED_FPS)
        self._drain(1.5)

    def _set_fps(self, fps: float) -> None:
        self.camera.call("param.set", {"key": "fps", "value": fps})

    def _drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        self._run_until(lambda: time.monotonic() >= end, timeout_s=seconds + 1)

    def _run_until(self, done, timeout_s: float, counting_from: float | None = None) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                self.graph.assert_running()
                raise SystemExit(f"pipeline: no progress within {timeout_s:.0f} s")
            event = self.probe.next_event(timeout_s=0.2)
            if event is None or event.kind != "input":
                continue
            counting = counting_from is not None and time.monotonic() >= counting_from
            self._on_event(event, counting)

    def _on_event(self, event, counting: bool) -> None:
        if event.name == "truth":
            self.truths[event.value.frame_id] = event.value
        elif event.name == "text":
            self.texts[event.value.frame_id] = event.value
        elif event.name == "latency":
            self._first_result = True
            if counting:
                self.tally.results += 1
                self.tally.latencies.append(event.value.values["latency_ms"])
        else:
            self.stats[event.name] = event.value.values

    def score(self) -> WordScore:
        score = WordScore()
        for frame_id, text in self.texts.items():
            if frame_id in self.truths:
                truth = self.truths[frame_id]
                score += word_accuracy(list(zip(truth.strings, truth.boxes.tolist())),
                                       list(zip(text.strings, text.boxes.tolist())))
        return score

    def close(self) -> None:
        self.camera.close()
        self.graph.close()


def report(name: str, tally: Tally) -> None:
    lat = tally.latencies
    print(f"{name:<15} results/s={tally.fps:6.2f}  results={tally.results:4d} in "
          f"{tally.seconds:5.1f} s  latency ms p50={statistics.median(lat):7.1f} "
          f"p99={percentile(lat, 99):7.1f}  words {tally.score.correct}/{tally.score.total} "
          f"accuracy={tally.score.accuracy:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="single/pipeline segment pairs")
    parser.add_argument("--segment-s", type=float, default=12.0, help="seconds per segment")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--camera-fps", type=float, default=30.0,
                        help="pipeline camera rate (30: a real camera's, far above what the "
                             "models take); 0 = unpaced, see docs")
    parser.add_argument("--det-threads", type=int, help="default: the launch file's")
    parser.add_argument("--rec-threads", type=int, help="default: the launch file's")
    parser.add_argument("--rec-frames-kept", type=int,
                        help="frames the recognizer holds for boxes (default: the node's)")
    parser.add_argument("--single-threads", type=int, default=0,
                        help="onnxruntime threads of the single process; 0 = one per core")
    parser.add_argument("--spin-wait", action=argparse.BooleanOptionalAction,
                        help="idle onnxruntime threads spin (default: the launch file's)")
    parser.add_argument("--no-gate", action="store_true",
                        help="the detector runs on every frame it can, not 2 ahead at most")
    args = parser.parse_args()

    print(f"camera_fps={args.camera_fps or 'unpaced'} det_threads={args.det_threads} "
          f"rec_threads={args.rec_threads} spin_wait={args.spin_wait} gate={not args.no_gate} "
          f"rounds={args.rounds}x{args.segment_s:.0f}s  (None = as in launch/ocr_demo.yaml)")
    single, pipeline = SingleProcess(args), Pipeline(args)
    try:
        for _ in range(args.rounds):
            single.segment(args.segment_s - SETTLE_S)
            pipeline.segment(args.segment_s)
        pipeline.tally.score = pipeline.score()
    finally:
        pipeline.close()
    report("single-process", single.tally)
    report("pipeline", pipeline.tally)
    for name, values in sorted(pipeline.stats.items()):
        print(f"  last {name} stats: {values}")
    ratio = pipeline.tally.fps / single.tally.fps
    p50 = statistics.median(pipeline.tally.latencies) / statistics.median(single.tally.latencies)
    print(f"throughput ratio pipeline/single = {ratio:.2f}  "
          f"latency p50 ratio pipeline/single = {p50:.2f}")


if __name__ == "__main__":
    main()
