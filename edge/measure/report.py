"""report.html: one self-contained page (plots inline as SVG, no scripts, no network)."""
from __future__ import annotations

import html
import io
from typing import Iterable, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;
text-align:right}th:first-child,td:first-child{text-align:left}.better{color:#08711f;font-weight:600}
.worse{color:#b00020;font-weight:600}.muted{color:#777}figure{margin:1em 0}
svg{max-width:100%;height:auto}
"""


def page(title: str, sections: Iterable[str]) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            + "".join(sections) + "</body></html>")


def table(header: list, rows: list, classes: Optional[list] = None) -> str:
    """rows of cells; `classes` (same shape as rows, or None) marks cells better/worse."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for r, row in enumerate(rows):
        cells = []
        for c, cell in enumerate(row):
            css = classes[r][c] if classes and classes[r][c] else ""
            cells.append(f"<td class='{css}'>{html.escape(fmt(cell))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def figure(fig) -> str:
    """A matplotlib figure as inline SVG, closed afterwards."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buffer.getvalue()
    return f"<figure>{svg[svg.index('<svg'):]}</figure>"


def section(title: str, *parts: str) -> str:
    return f"<h2>{html.escape(title)}</h2>" + "".join(parts)


def render(doc: dict) -> str:
    """The report of one run."""
    e2e, graph = doc["end_to_end"], doc["graph"]
    return page(f"edge measure: {graph['name']}", [
        section("Summary", summary_table([doc])),
        section("End-to-end latency",
                f"<p>capture → <code>{html.escape(str(e2e['topic']))}</code> at this probe</p>",
                latency_plots([doc])),
        section("Nodes", node_table(doc), node_plots([doc])),
        section("Topics", topic_table(doc), rate_plot([doc])),
        section("Accuracy", accuracy_table(doc)),
        section("Reported by nodes", reported_table(doc)),
        section("Machine", machine_table(doc)),
    ])


SUMMARY_ROWS = [  # label, path into the document, which way is better
    ("results/s", ("end_to_end", "results_per_s"), "higher"),
    ("latency p50 ms", ("end_to_end", "latency_ms", "p50"), "lower"),
    ("latency p90 ms", ("end_to_end", "latency_ms", "p90"), "lower"),
    ("latency p99 ms", ("end_to_end", "latency_ms", "p99"), "lower"),
    ("latency max ms", ("end_to_end", "latency_ms", "max"), "lower"),
    ("frames behind (mean)", ("end_to_end", "frames_behind", "mean"), "lower"),
    ("CPU % (all nodes, mean)", ("totals", "cpu_percent"), "lower"),
    ("RSS MB (all nodes, mean)", ("totals", "rss_mb"), "lower"),
    ("input drops", ("totals", "input_drops"), "lower"),
    ("handler errors", ("totals", "handler_errors"), "lower"),
    ("restarts", ("totals", "restarts"), "lower"),
    ("accuracy", ("totals", "accuracy"), "higher"),
]


def totals(doc: dict) -> dict:
    nodes = doc["nodes"].values()
    scores = [a for a in doc["accuracy"].values() if a["total"]]
    return {"cpu_percent": round(sum(n["cpu_percent"]["mean"] or 0 for n in nodes), 1),
            "rss_mb": round(sum(n["rss_mb"]["mean"] or 0 for n in nodes), 1),
            "input_drops": sum(n["input_drops"] for n in nodes),
            "handler_errors": sum(n["handler_errors"] for n in nodes),
            "restarts": sum(n["restarts"] for n in nodes),
            "accuracy": (round(sum(a["correct"] for a in scores)
                               / sum(a["total"] for a in scores), 4) if scores else None)}


def lookup(doc: dict, path: tuple):
    value = {**doc, "totals": totals(doc)}
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def summary_table(docs: list, labels: Optional[list] = None) -> str:
    """One column per run; from the second run on, cells say whether they got better."""
    labels = labels or [d["graph"]["name"] for d in docs]
    rows, classes = [], []
    for label, path, better in SUMMARY_ROWS:
        values = [lookup(d, path) for d in docs]
        rows.append([label, *values])
        classes.append(["", ""] + [verdict(values[0], v, better) for v in values[1:]])
    return table(["", *labels], rows, classes)


def verdict(base, value, better: str) -> str:
    if base is None or value is None or base == value:
        return ""
    return "better" if (value < base) == (better == "lower") else "worse"


def node_table(doc: dict) -> str:
    rows = [[name, n["type"], n["state"], n["cpu_percent"]["mean"], n["cpu_percent"]["max"],
             n["rss_mb"]["mean"], n["rss_mb"]["max"], n["restarts"], n["input_drops"],
             n["handler_errors"]] for name, n in doc["nodes"].items()]
    return table(["node", "type", "state", "CPU % mean", "CPU % max", "RSS MB mean", "RSS MB max",
                  "restarts", "input drops", "handler errors"], rows)


def topic_table(doc: dict) -> str:
    rows = [[topic, t["publisher"], t["schema"], t["rate_hz"], t["bytes_per_s"] / 1e6,
             t["size_bytes"]["mean"], t["dropped"], t["latency_ms"]["p50"], t["latency_ms"]["p99"]]
            for topic, t in doc["topics"].items()]
    return table(["topic", "publisher", "type", "rate Hz", "MB/s", "mean size B", "dropped",
                  "latency p50 ms", "p99 ms"], rows)


def accuracy_table(doc: dict) -> str:
    if not doc["accuracy"]:
        return "<p class='muted'>no topic was scored: the graph has no ground-truth output</p>"
    rows = [[topic, a["truth_topic"], a["frames"], a["correct"], a["total"], a["accuracy"]]
            for topic, a in doc["accuracy"].items()]
    return table(["topic", "truth", "frames", "correct", "total", "accuracy"], rows)


def reported_table(doc: dict) -> str:
    """The last Stats each node published: fps, inference ms, a shadow model's agreement."""
    rows = [[topic, key, value] for topic, t in doc["topics"].items()
            for key, value in sorted((t.get("last_stats") or {}).items())]
    if not rows:
        return "<p class='muted'>no node published Stats during the run</p>"
    return table(["topic", "value", "last"], rows)


def machine_table(doc: dict) -> str:
    m = doc["machine"]
    rows = [["cores", m["cores"]], ["load average before", " ".join(map(str, m["load_avg"]))],
            ["load average after", " ".join(map(str, m.get("load_avg_after", [])))],
            ["python", m["python"]], ["platform", m["platform"]],
            *[[name, version] for name, version in m["versions"].items()]]
    return table(["", ""], rows)


def latency_plots(docs: list, labels: Optional[list] = None) -> str:
    labels = labels or [d["graph"]["name"] for d in docs]
    fig, (hist, series) = plt.subplots(1, 2, figsize=(11, 3.4))
    for doc, label in zip(docs, labels):
        values = doc["end_to_end"]["series"]
        if values["latency_ms"]:
            hist.hist(values["latency_ms"], bins=40, alpha=0.6, label=label)
            series.plot(values["t_s"], values["latency_ms"], ".", markersize=3, label=label)
    hist.set(title="latency histogram", xlabel="ms", ylabel="results")
    series.set(title="latency over time", xlabel="s", ylabel="ms")
    if len(docs) > 1:
        hist.legend()
    return figure(fig)


def node_plots(docs: list, labels: Optional[list] = None) -> str:
    labels = labels or [d["graph"]["name"] for d in docs]
    fig, (cpu, rss) = plt.subplots(1, 2, figsize=(11, 3.4))
    for doc, label in zip(docs, labels):
        prefix = f"{label}: " if len(docs) > 1 else ""
        for name, node in doc["nodes"].items():
            s = node["series"]
            cpu.plot(s["t_s"], s["cpu_percent"], label=prefix + name)
            rss.plot(s["t_s"], s["rss_mb"], label=prefix + name)
    cpu.set(title="CPU per node (100 % = one core)", xlabel="s", ylabel="%")
    rss.set(title="RSS per node", xlabel="s", ylabel="MB")
    rss.legend(fontsize=8)
    return figure(fig)


def rate_plot(docs: list, labels: Optional[list] = None) -> str:
    labels = labels or [d["graph"]["name"] for d in docs]
    topics = sorted({t for d in docs for t in d["topics"]})
    fig, ax = plt.subplots(figsize=(11, 0.35 * len(topics) * len(docs) + 1.2))
    height = 0.8 / len(docs)
    for i, (doc, label) in enumerate(zip(docs, labels)):
        rates = [doc["topics"].get(t, {}).get("rate_hz") or 0 for t in topics]
        ax.barh([k + i * height for k in range(len(topics))], rates, height, label=label)
    ax.set_yticks([k + height * (len(docs) - 1) / 2 for k in range(len(topics))], topics)
    ax.set(title="topic rates", xlabel="messages/s")
    if len(docs) > 1:
        ax.legend()
    return figure(fig)
