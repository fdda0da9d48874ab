"""Two measurements.json side by side: a table with what got better or worse, overlaid plots."""
from __future__ import annotations

import json
from pathlib import Path

from edge.errors import InvalidArgument
from edge.measure import report
from edge.measure.summary import SCHEMA


def load(path: Path) -> dict:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"{path}: not a readable measurements.json ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InvalidArgument(f"{path}: not a measurements document (schema {SCHEMA!r} expected)")
    return doc


def labels_for(paths: list[Path]) -> list[str]:
    """Names a reader can tell apart: the file's folder, or the file name if folders repeat."""
    names = [Path(p).resolve().parent.name for p in paths]
    return names if len(set(names)) == len(names) else [str(p) for p in paths]


def rows(docs: list) -> list:
    """(label, value A, value B, change, verdict) for every summary row: what `compare` prints."""
    out = []
    for label, path, better in report.SUMMARY_ROWS:
        a, b = (report.lookup(d, path) for d in docs)
        change = None
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a:
            change = round(100.0 * (b - a) / abs(a), 1)
        out.append((label, a, b, change, report.verdict(a, b, better)))
    return out


def render(docs: list, labels: list) -> str:
    return report.page(f"edge measure: {labels[0]} vs {labels[1]}", [
        report.section("Summary", report.summary_table(docs, labels)),
        report.section("End-to-end latency", report.latency_plots(docs, labels)),
        report.section("Nodes", report.node_plots(docs, labels)),
        report.section("Topics", report.rate_plot(docs, labels)),
    ])
