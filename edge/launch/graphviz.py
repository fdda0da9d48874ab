"""A launch graph as Graphviz dot or Mermaid: nodes as boxes, named topics as edges.

A topic nobody in the graph reads ends in a small point; an `external` topic starts at
an "ad-hoc" source, since a script outside the launch file publishes it.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from edge.launch.graph import Graph

INSTALL_HINT = ("Graphviz's `dot` is not installed: install it (Debian/Ubuntu: "
                "`sudo apt-get install graphviz`, macOS: `brew install graphviz`, conda: "
                "`conda install graphviz`), or write the text form with --output graph.dot, "
                "or paste `edge graph --mermaid FILE` into https://mermaid.live")


def _edges(graph: Graph) -> list[tuple[str, str, str]]:
    """(from, to, topic); `from`/`to` are node names or pseudo-nodes for loose ends."""
    producers, consumers = graph.producers(), graph.consumers()
    edges = []
    for topic in list(producers) + [t for t in graph.external if t not in producers]:
        sources = [n.name for n, _ in producers.get(topic, [])] or [f"@ext:{topic}"]
        targets = [n.name for n, _ in consumers.get(topic, [])] or [f"@end:{topic}"]
        edges += [(s, t, topic) for s in sources[:1] for t in targets]
    for topic, readers in consumers.items():  # inputs nobody produces (an invalid graph)
        if topic not in producers and topic not in graph.external:
            edges += [(f"@missing:{topic}", n.name, topic) for n, _ in readers]
    return edges


def _type_label(node_type: str) -> str:
    return Path(node_type).name if node_type.endswith(".py") or "/" in node_type else node_type


def to_dot(graph: Graph) -> str:
    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace('"', '\\"')

    def q(text: str) -> str:
        return f'"{esc(text)}"'

    lines = [f"digraph {q(graph.name)} {{", "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", '
             'fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=10];']
    for node in graph.nodes:
        label = f'"{esc(node.name)}\\n{esc(_type_label(node.type))}"'
        lines.append(f"  {q(node.name)} [label={label}];")
    pseudo = set()
    for source, target, topic in _edges(graph):
        for end in (source, target):
            if end.startswith("@") and end not in pseudo:
                pseudo.add(end)
                kind = end[1:].split(":", 1)[0]
                style = {"ext": 'shape=cds, label="ad-hoc", fillcolor="#fdf2d0"',
                         "end": 'shape=point, width=0.08',
                         "missing": 'shape=box, label="missing", fillcolor="#f9d6d5"'}[kind]
                lines.append(f"  {q(end)} [{style}];")
        lines.append(f"  {q(source)} -> {q(target)} [label={q(topic)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(graph: Graph) -> str:
    ids: dict[str, str] = {}

    def ident(name: str) -> str:
        if name not in ids:
            ids[name] = f"n{len(ids)}_" + re.sub(r"[^A-Za-z0-9_]", "_", name)[:24]
        return ids[name]

    def text(value: str) -> str:
        return value.replace('"', "#quot;")

    lines = ["flowchart LR"]
    for node in graph.nodes:
        label = f"{text(node.name)}<br/><small>{text(_type_label(node.type))}</small>"
        lines.append(f'  {ident(node.name)}["{label}"]')
    declared = set()
    for source, target, topic in _edges(graph):
        for end in (source, target):
            if end.startswith("@") and end not in declared:
                declared.add(end)
                kind = end[1:].split(":", 1)[0]
                shape = {"ext": '>"ad-hoc"]', "end": '(("·"))', "missing": '["missing"]'}[kind]
                lines.append(f"  {ident(end)}{shape}")
        lines.append(f'  {ident(source)} -->|"{text(topic)}"| {ident(target)}')
    return "\n".join(lines) + "\n"


class RenderError(ValueError):
    """Graphviz's dot ran and failed."""


def render(graph: Graph, output: Path) -> str:
    """Write `output` by its suffix: .dot/.gv and .mmd/.md as text, else an image via dot."""
    suffix = output.suffix.lower().lstrip(".")
    if suffix in ("dot", "gv"):
        output.write_text(to_dot(graph))
        return f"wrote {output} (Graphviz dot)"
    if suffix in ("mmd", "mermaid", "md"):
        output.write_text(to_mermaid(graph))
        return f"wrote {output} (Mermaid)"
    dot = shutil.which("dot")
    if dot is None:
        raise LookupError(INSTALL_HINT)
    result = subprocess.run([dot, f"-T{suffix or 'png'}", "-o", str(output)], input=to_dot(graph),
                            text=True, capture_output=True, timeout=60)
    if result.returncode != 0:
        raise RenderError(f"dot failed to render {output}: {result.stderr.strip()}")
    return f"wrote {output}"
