"""The 4-node OCR demo (one process per node) against the same work in one process.

Both read pattern frames from the same seed with a new word set in every frame. Reported:
results per second, capture-to-result latency p50/p99 (pipeline: measured by the
visualizer when a result arrives, now - stamp_ns; single process: render start to result),
and word accuracy. The nodes are started as `python -m edge.run` processes with NodeConfig
JSON, exactly as the supervisor starts them, wired as in launch/ocr_demo.yaml.

Run from the repository root:  python -m benchmarks.bench_pipeline --seconds 30
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from nodes.camera.pattern import PatternScene
from nodes.metrics import percentile
from nodes.ocr.pipeline import SingleProcessOCR
from nodes.ocr.scoring import WordScore, word_accuracy

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "nodes"))
from process_graph import Graph, load_launch  # noqa: E402  (the tests' stand-in launcher)


def single_process(args) -> dict:
    scene = PatternScene(640, 480, args.seed, frames_per_set=1)
    ocr = SingleProcessOCR(intra_op_threads=args.single_threads)
    ocr(scene.render(10**6, 0)[0])  # warm-up on an unscored frame
    latencies, score, frames = [], WordScore(), 0
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        stamp_ns = time.time_ns()
        image, truth = scene.render(frames, stamp_ns)
        result = ocr(image)
        latencies.append((time.time_ns() - stamp_ns) / 1e6)
        score += word_accuracy(truth, result.words())
        frames += 1
    elapsed = time.perf_counter() - start
    return {"fps": frames / elapsed, "frames": frames, "latencies": latencies, "score": score}


def pipeline(args) -> dict:
    def given(**values):
        return {key: value for key, value in values.items() if value is not None}

    overrides = {
        "camera": {"fps": args.camera_fps, "frames_per_set": 1, "seed": args.seed},
        "detector": given(threads=args.det_threads, spin_wait=args.spin_wait),
        "recognizer": given(threads=args.rec_threads, spin_wait=args.spin_wait),
        "visualizer": {"sink": "none"},
    }
    specs = load_launch(REPO / "launch" / "ocr_demo.yaml", overrides)
    if args.no_gate:
        for spec in specs:
            spec["inputs"] = {k: v for k, v in (spec.get("inputs") or {}).items() if k != "gate"}
    graph = Graph()
    try:
        graph.start(specs)
        probe = graph.probe({"latency": "visualizer/latency", "text": "text/strings",
                             "truth": "camera/truth", "det": "detector/stats",
                             "rec": "recognizer/stats", "camera": "camera/stats"},
                            queue_size=100_000)
        return _measure(graph, probe, args)
    finally:
        graph.close()


def _measure(graph: Graph, probe, args) -> dict:
    truths, texts, latencies, stats = {}, {}, [], {}
    started = None
    deadline = time.monotonic() + 120  # model loading included
    while started is None or time.monotonic() - started < args.seconds:
        if time.monotonic() > deadline:
            graph.assert_running()
            raise SystemExit("no results from the pipeline within 120 s")
        event = probe.next_event(timeout_s=0.5)
        if event is None or event.kind != "input":
            continue
        if event.name == "truth":
            truths[event.value.frame_id] = event.value
        elif event.name == "text" and started is not None:
            texts[event.value.frame_id] = event.value
        elif event.name == "latency":
            if started is None:   # the first result starts the clock: loading is not measured
                started = time.monotonic()
            else:
                latencies.append(event.value.values["latency_ms"])
        elif event.name in ("det", "rec", "camera"):
            stats[event.name] = event.value.values
    elapsed = time.monotonic() - started
    score = WordScore()
    for frame_id, text in texts.items():
        if frame_id in truths:
            truth = truths[frame_id]
            score += word_accuracy(list(zip(truth.strings, truth.boxes.tolist())),
                                   list(zip(text.strings, text.boxes.tolist())))
    graph.assert_running()
    return {"fps": len(latencies) / elapsed, "frames": len(latencies),
            "latencies": latencies, "score": score, "stats": stats}


def report(name: str, result: dict) -> None:
    lat, score = result["latencies"], result["score"]
    print(f"{name:<15} results/s={result['fps']:6.2f}  frames={result['frames']:4d}  "
          f"latency ms p50={statistics.median(lat):7.1f} p99={percentile(lat, 99):7.1f}  "
          f"words {score.correct}/{score.total} accuracy={score.accuracy:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--camera-fps", type=float, default=0.0,
                        help="pipeline camera rate; 0 = unpaced (as fast as it renders)")
    parser.add_argument("--det-threads", type=int, help="default: the launch file's")
    parser.add_argument("--rec-threads", type=int, help="default: the launch file's")
    parser.add_argument("--single-threads", type=int, default=0,
                        help="onnxruntime threads of the single process; 0 = one per core")
    parser.add_argument("--spin-wait", action=argparse.BooleanOptionalAction,
                        help="idle onnxruntime threads spin (default: the launch file's)")
    parser.add_argument("--no-gate", action="store_true",
                        help="detector runs on every frame it can, not 2 ahead at most")
    parser.add_argument("--skip-single", action="store_true")
    args = parser.parse_args()

    print(f"camera_fps={args.camera_fps or 'unpaced'} det_threads={args.det_threads} "
          f"rec_threads={args.rec_threads} spin_wait={args.spin_wait} gate={not args.no_gate} "
          f"seconds={args.seconds}  (None = as in launch/ocr_demo.yaml)")
    single = None if args.skip_single else single_process(args)
    if single:
        report("single-process", single)
    piped = pipeline(args)
    report("pipeline", piped)
    for name, values in sorted(piped["stats"].items()):
        print(f"  last {name} stats: {values}")
    if single:
        ratio = piped["fps"] / single["fps"]
        p50 = statistics.median(piped["latencies"]) / statistics.median(single["latencies"])
        print(f"throughput ratio pipeline/single = {ratio:.2f}  "
              f"latency p50 ratio pipeline/single = {p50:.2f}")


if __name__ == "__main__":
    main()
