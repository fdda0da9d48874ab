"""The demo graph of launch/ocr_demo.yaml, started node by node as the supervisor would."""
import pytest

from nodes.ocr.scoring import WordScore, word_accuracy
from process_graph import REPO, collect, load_launch

LAUNCH = REPO / "launch" / "ocr_demo.yaml"
RESULT_FRAMES = 12


@pytest.mark.timeout(150)
def test_demo_reads_the_words_the_camera_drew(graph):
    specs = load_launch(LAUNCH, {"camera": {"fps": 3.0, "frames_per_set": 1, "seed": 7},
                                 "visualizer": {"sink": "none"}})
    assert [s["type"] for s in specs] == ["camera", "model_runner", "model_runner", "visualizer"]
    graph.start(specs)
    probe = graph.probe({"text": "text/strings", "truth": "camera/truth",
                         "latency": "visualizer/latency", "stats": "recognizer/stats"})
    truths, texts, latencies, stats = {}, {}, {}, []

    def until(event):
        frame_id = getattr(event.value, "frame_id", None)
        if event.name == "truth":
            truths[frame_id] = event.value
        elif event.name == "text":
            texts[frame_id] = event
        elif event.name == "latency":
            latencies[event.value.values["frame_id"]] = event.value.values["latency_ms"]
        else:
            stats.append(event.value.values)
        return len(set(texts) & set(truths)) >= RESULT_FRAMES and stats

    collect(probe, until, timeout_s=120)
    graph.assert_running()
    score = WordScore()
    for frame_id in set(texts) & set(truths):
        truth, text = truths[frame_id], texts[frame_id].value
        score += word_accuracy(list(zip(truth.strings, truth.boxes.tolist())),
                               list(zip(text.strings, text.boxes.tolist())))
    print(f"\nword accuracy {score.correct}/{score.total} = {score.accuracy:.3f}, "
          f"latency ms {sorted(latencies.values())}")
    assert score.total >= 5 * RESULT_FRAMES
    assert score.accuracy >= 0.9
    assert set(latencies) & set(texts)          # the visualizer saw the same results
    assert all(ms > 0 for ms in latencies.values())   # units: test_visualizer_loop, exactly
    assert stats[-1]["processed"] >= 1 and stats[-1]["inference_ms"] > 0
