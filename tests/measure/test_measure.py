"""`edge measure` on a real launched graph, and `edge report compare` on its output."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
EDGE = [sys.executable, "-c", "from edge.cli import main; main()"]

GRAPH = {
    "name": "measured",
    "nodes": [
        {"name": "camera", "type": "camera",
         "parameters": {"source": "pattern", "fps": 10,
                        "frames_per_set": 1},
         "outputs": {"image": "camera/image", "truth": "camera/truth"}},
        {"name": "copy", "type": "relay", "inputs": {"in": "camera/truth"},
         "outputs": {"out": "copy/truth"}},
        {"name": "again", "type": "relay", "inputs": {"in": "copy/truth"},
         "outputs": {"out": "again/truth"}},
    ],
}
NODE_KEYS = {"type", "state", "restarts", "cpu_percent", "rss_mb", "input_drops", "handler_errors",
             "inputs", "series"}
TOPIC_KEYS = {"publisher", "schema", "messages", "rate_hz", "received", "bytes_per_s", "size_bytes",
              "dropped", "latency_ms"}


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    folder = tmp_path_factory.mktemp("measure")
    graph = folder / "graph.yaml"
    graph.write_text(yaml.safe_dump(GRAPH))
    out = folder / "out"
    run = subprocess.run(
        [*EDGE, "measure", str(graph), "--duration", "3", "--warmup", "0.5", "-o", str(out),
         "--score", "again/truth=camera/truth:scoring_fixture:same_words"],
        capture_output=True, text=True, timeout=150, cwd=HERE,
        env={**__import__("os").environ, "PYTHONPATH": str(HERE)})
    assert run.returncode == 0, run.stderr + run.stdout
    return out, run


@pytest.mark.timeout(180)
def test_measurements_json_has_the_documented_keys(measured):
    out, run = measured
    doc = json.loads((out / "measurements.json").read_text())
    assert doc["schema"] == "edge.measurements/1"
    assert set(doc) == {"schema", "graph", "run", "machine", "nodes", "topics", "end_to_end",
                        "accuracy", "measurement"}
    assert set(doc["nodes"]) == {"camera", "copy", "again"}
    for node in doc["nodes"].values():
        assert NODE_KEYS <= set(node)
        assert node["state"] == "running" and node["restarts"] == 0
        assert node["series"]["t_s"] and node["rss_mb"]["max"] > 10
    assert set(doc["topics"]) == {"camera/image", "camera/truth", "copy/truth", "again/truth"}
    image = doc["topics"]["camera/image"]
    assert TOPIC_KEYS <= set(image)
    assert image["schema"] == "Image" and image["size_bytes"]["max"] > 640 * 480 * 3
    assert image["messages"] > 0 and image["rate_hz"] > 0
    assert doc["machine"]["cores"] >= 1 and "pyzmq" in doc["machine"]["versions"]
    e2e = doc["end_to_end"]
    assert e2e["topic"] in ("copy/truth", "again/truth")
    assert e2e["latency_ms"]["count"] > 0 and e2e["latency_ms"]["p50"] > 0
    assert e2e["frames_behind"]["mean"] is not None
    assert "results/s" in run.stdout and "accuracy" in run.stdout


@pytest.mark.timeout(180)
def test_truth_is_scored_by_the_node_type_and_by_a_given_function(measured):
    doc = json.loads((measured[0] / "measurements.json").read_text())
    by_type = doc["accuracy"]["copy/truth"]       # Camera.score: word by word, by position
    assert by_type["truth_topic"] == "camera/truth" and by_type["frames"] > 0
    assert by_type["total"] > 0 and by_type["accuracy"] == 1.0
    given = doc["accuracy"]["again/truth"]        # --score: the function named on the line
    assert given["frames"] > 0 and given["correct"] == given["total"] > 0


@pytest.mark.timeout(180)
def test_report_html_embeds_its_plots_and_needs_no_network(measured):
    text = (measured[0] / "report.html").read_text()
    assert text.count("<svg") >= 3      # latency, nodes, topic rates
    assert "<script" not in text and not re.search(r"(src|href)=[\"']https?:", text)
    for heading in ("Summary", "End-to-end latency", "Nodes", "Topics", "Accuracy", "Machine"):
        assert f"<h2>{heading}</h2>" in text


@pytest.mark.timeout(60)
def test_compare_marks_what_got_worse(measured, tmp_path):
    first = measured[0] / "measurements.json"
    doc = json.loads(first.read_text())
    doc["end_to_end"]["latency_ms"]["p50"] *= 2          # a slower second run
    doc["end_to_end"]["results_per_s"] *= 2               # that also delivers more
    (tmp_path / "b").mkdir()
    second = tmp_path / "b" / "measurements.json"
    second.write_text(json.dumps(doc))
    run = subprocess.run([*EDGE, "report", "compare", str(first), str(second), "-o",
                          str(tmp_path / "cmp")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = {line.split("  ")[0]: line for line in run.stdout.splitlines()}
    latency = lines["latency p50 ms"]
    assert latency.rstrip().endswith("WORSE") and "+100.0%" in latency
    assert lines["results/s"].rstrip().endswith("better")
    assert lines["restarts"].rstrip().endswith("0")
    html = (tmp_path / "cmp" / "compare.html").read_text()
    assert html.count("<svg") >= 3 and "class='worse'" in html and "class='better'" in html


def test_compare_refuses_a_file_that_is_not_measurements(tmp_path):
    bogus = tmp_path / "x.json"
    bogus.write_text('{"schema": "something else"}')
    run = subprocess.run([*EDGE, "report", "compare", str(bogus), str(bogus)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip().count("\n") == 0 and "not a measurements document" in run.stderr
