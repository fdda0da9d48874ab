"""The layers stay visible: no module imports one that imports it back, the bus core
loads without the launcher, the CLI without the model runtimes, and edge/ stays small.

Imports are read statically (ast), so one under `if TYPE_CHECKING:` or inside a
function counts too: a circle hidden from the interpreter is still a circle.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("edge", "messages", "nodes")
MAX_CORE_MODULES = 18  # "about 16": __init__ and one module per idea (inputs and outputs each one)


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of our packages."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, modules: dict) -> set[str]:
    """Our modules that `name` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:  # `from a import b`: the module a.b if there is one, else a
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {t for t in targets if t in modules and t != name}


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imported(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert len(graph) > 50 and "edge.launch.supervisor" in graph["edge.cli.launch"] | {
        t for deps in graph.values() for t in deps}
    found = cycles(graph)
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(group) for group in found)


TOOLS = ("launch", "cli", "bag", "measure")  # edge's subpackages above the bus core


def layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "edge" and len(parts) > 1 and parts[1] in TOOLS:
        return f"edge.{parts[1]}"
    return parts[0]


# what each layer may import besides itself (docs/ARCHITECTURE.md)
CORE = {"edge", "messages"}
ALLOWED = {"messages": set(), "edge": {"messages"}, "edge.launch": CORE,
           "edge.bag": CORE | {"edge.launch"}, "edge.measure": CORE | {"edge.launch", "edge.bag"},
           "nodes": CORE | {"edge.launch", "edge.bag", "edge.measure"},
           "edge.cli": CORE | {"edge.launch", "edge.bag", "edge.measure"}}


def test_imports_point_down_only():
    wrong = [f"{module} imports {target}" for module, targets in sorted(import_graph().items())
             for target in sorted(targets)
             if layer(target) != layer(module) and layer(target) not in ALLOWED[layer(module)]]
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_cycle_finder_finds_a_circle_through_a_package():
    graph = {"a": {"a.b"}, "a.b": {"c"}, "c": {"a"}, "d": {"c"}}
    assert cycles(graph) == [["a", "a.b", "c"]]


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_importing_the_bus_core_leaves_the_launcher_unloaded():
    out = run_python("import sys, edge\nfrom edge import Node, Client, Service\n"
                     "print(sorted(m for m in sys.modules\n"
                     "             if m.split('.')[:2] in (['edge', 'launch'], ['edge', 'cli']) or m.split('.')[0] == 'nodes'))")
    assert out.strip() == "[]"


def test_importing_the_cli_leaves_model_runtimes_unloaded():
    out = run_python("import sys, edge.cli\n"
                     "print(sorted(m for m in ('onnxruntime', 'onnx', 'cv2') if m in sys.modules))")
    assert out.strip() == "[]"


def test_the_bus_core_stays_small():
    core = sorted(p.name for p in (ROOT / "edge").glob("*.py"))
    assert len(core) <= MAX_CORE_MODULES, f"edge/ holds {len(core)} modules: {core}"
