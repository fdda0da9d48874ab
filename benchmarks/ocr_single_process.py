"""Frames/s, per-stage latency and word accuracy of SingleProcessOCR on pattern frames.

Run from the repository root:  python -m benchmarks.ocr_single_process --frames 60
"""
from __future__ import annotations

import argparse
import statistics
import time

from nodes.camera.pattern import PatternScene
from nodes.ocr.pipeline import SingleProcessOCR
from nodes.ocr.scoring import WordScore, word_accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--frames-per-set", type=int, default=1,
                        help="frames per word set; 1 = new words every frame")
    parser.add_argument("--intra-op-threads", type=int, default=0)
    parser.add_argument("--rec-min-width", type=int, default=64)
    parser.add_argument("--rec-batch-size", type=int, default=8)
    args = parser.parse_args()

    scene = PatternScene(args.width, args.height, args.seed, args.frames_per_set)
    ocr = SingleProcessOCR(rec_min_width=args.rec_min_width,
                           rec_batch_size=args.rec_batch_size,
                           intra_op_threads=args.intra_op_threads)
    ocr(scene.render(10**6, 0)[0])  # warm-up on an unscored frame: first runs allocate
    det_ms, rec_ms, score = [], [], WordScore()
    start = time.perf_counter()
    for index in range(args.frames):
        image, truth = scene.render(index, time.time_ns())
        result = ocr(image)
        det_ms.append(result.det_ms)
        rec_ms.append(result.rec_ms)
        score += word_accuracy(truth, result.words())
    elapsed = time.perf_counter() - start
    print(f"frames={args.frames} size={args.width}x{args.height} "
          f"fps={args.frames / elapsed:.2f} (incl. rendering and scoring)")
    for name, values in (("det", det_ms), ("rec", rec_ms)):
        print(f"{name}_ms mean={statistics.fmean(values):.1f} "
              f"p50={statistics.median(values):.1f} max={max(values):.1f}")
    print(f"words correct={score.correct}/{score.total} located={score.located} "
          f"accuracy={score.accuracy:.3f}")


if __name__ == "__main__":
    main()
