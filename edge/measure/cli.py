"""`edge measure` and `edge report compare` (an `edge.cli_commands` plug-in)."""
from __future__ import annotations

import json
import sys
from importlib import import_module
from pathlib import Path

import click

from edge.errors import InvalidArgument


@click.command()
@click.argument("launch_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--duration", "duration_s", type=click.FloatRange(min=0.5), default=20.0,
              show_default=True, metavar="S", help="seconds measured, after the warm-up")
@click.option("--warmup", "warmup_s", type=click.FloatRange(min=0.0), default=2.0,
              show_default=True, metavar="S", help="seconds run before measuring starts")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), required=True,
              help="folder for measurements.json, report.html and launch.log")
@click.option("--result", "result_topics", multiple=True, metavar="TOPIC",
              help="the topic whose latency is end to end (default: the slowest derived topic)")
@click.option("--score", "scores", multiple=True, metavar="TOPIC=TRUTH:module:function",
              help="score TOPIC against TRUTH with function(truth, value) -> (correct, total)")
@click.option("--ready-timeout", "ready_timeout_s", type=float, default=120.0, show_default=True,
              metavar="S", help="how long the graph may take to become ready")
def measure(launch_file: str, duration_s: float, warmup_s: float, out_dir: str,
            result_topics: tuple, scores: tuple, ready_timeout_s: float) -> None:
    """Run LAUNCH_FILE, measure it and write measurements.json and report.html to -o DIR.

    Per node: CPU and RSS over time, restarts, input drops, handler errors. Per topic: rate,
    bytes/s, message size, drops, capture-to-arrival latency. End to end: latency
    percentiles and frames behind. Accuracy wherever a node publishes ground truth.
    """
    from edge.measure import report, summary
    from edge.measure.session import Options, Session

    options = Options(duration_s=duration_s, warmup_s=warmup_s, ready_timeout_s=ready_timeout_s,
                      result_topics=result_topics, scorers=dict(map(_scorer, scores)),
                      progress=_progress_bar())
    out = Path(out_dir)
    machine = summary.machine()
    run = Session(Path(launch_file), out, options).run()
    doc = summary.build(run, machine)
    (out / "measurements.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out / "report.html").write_text(report.render(doc))
    click.echo(("\r" if sys.stderr.isatty() else "") + _one_line(doc), err=False)
    click.echo(f"wrote {out / 'measurements.json'} and {out / 'report.html'}")


@click.group()
def report() -> None:
    """Reports of `edge measure` runs."""


@report.command()
@click.argument("first", type=click.Path(exists=True, dir_okay=False))
@click.argument("second", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False),
              help="also write compare.html to this folder")
def compare(first: str, second: str, out_dir: str | None) -> None:
    """Compare two measurements.json files: FIRST is the baseline."""
    from edge.measure import compare as comparing

    paths = [Path(first), Path(second)]
    docs, labels = [comparing.load(p) for p in paths], comparing.labels_for(paths)
    marks = {"better": "better", "worse": "WORSE", "": ""}
    click.echo(f"{'':28} {labels[0][:14]:>14} {labels[1][:14]:>14} {'change':>8}")
    for label, a, b, change, verdict in comparing.rows(docs):
        shown = "" if change is None else f"{change:+.1f}%"
        click.echo(f"{label:28} {_cell(a):>14} {_cell(b):>14} {shown:>8}  {marks[verdict]}")
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        target = Path(out_dir) / "compare.html"
        target.write_text(comparing.render(docs, labels))
        click.echo(f"wrote {target}")


def _cell(value) -> str:
    return "–" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))


def _scorer(spec: str):
    topic, sep, rest = spec.partition("=")
    truth, sep2, target = rest.partition(":")
    module_name, sep3, attr = target.partition(":")
    if not (sep and sep2 and sep3 and topic and truth and module_name and attr):
        raise InvalidArgument(f"--score {spec!r}: expected TOPIC=TRUTH_TOPIC:module:function")
    try:
        function = getattr(import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise InvalidArgument(f"--score {spec!r}: cannot load {module_name}:{attr} "
                              f"({exc})") from None
    return topic, (truth, function)


def _progress_bar():
    width, tty = 30, sys.stderr.isatty()
    last = {"text": None}

    def show(fraction: float, total_s: float, text: str) -> None:
        filled = int(round(fraction * width))
        line = f"[{'#' * filled}{'.' * (width - filled)}] {text}"
        if tty:
            sys.stderr.write("\r" + line.ljust(60))
            sys.stderr.flush()
        elif text.split()[0] != last["text"]:   # a log, not a terminal: one line per phase
            sys.stderr.write(line + "\n")
        last["text"] = text.split()[0]
    return show


def _one_line(doc: dict) -> str:
    e2e = doc["end_to_end"]
    lat = e2e["latency_ms"]
    acc = [a["accuracy"] for a in doc["accuracy"].values() if a["accuracy"] is not None]
    text = (f"{doc['graph']['name']}: {e2e['results_per_s']} results/s on {e2e['topic']}, "
            f"latency p50 {lat['p50']} ms p99 {lat['p99']} ms")
    return text + (f", accuracy {acc[0]:.3f}" if acc else "")
