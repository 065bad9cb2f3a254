"""The project's import graph: no circle between modules, and packages depend one way only.

Reads every module's `import` / `from ... import` statements with `ast` (nothing is
imported), maps them to the project's modules, and fails on a cycle or on an import that
runs against the layers: app and CLI (ringwatch) -> ingest -> graph -> graph.vocabulary.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("graph", "ingest", "ringwatch", "queries")
# a package may import the ones listed after it, never those before it
LAYERS = ("ringwatch", "ingest", "graph")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    mods = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    mods["app"] = ROOT / "app.py"
    return mods


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for t in targets:
            # the longest known prefix: `from graph.review import audit` -> graph.review.audit
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def import_graph() -> nx.DiGraph:
    mods = project_modules()
    g = nx.DiGraph()
    for name, path in mods.items():
        g.add_node(name)
        for target in imports_of(path, name, set(mods)):
            # a package's __init__ importing its own submodules is not a dependency back
            if not (path.name == "__init__.py" and target.startswith(name + ".")):
                g.add_edge(name, target)
    return g


def test_the_import_graph_is_read():
    g = import_graph()
    assert g.has_edge("graph.review.decisions", "graph.review.audit")
    assert g.has_edge("ringwatch.cli", "graph.db.server")


def test_no_module_imports_itself_in_a_circle():
    cycles = list(nx.simple_cycles(import_graph()))
    assert cycles == [], f"import circles: {cycles[:5]}"


def test_packages_depend_one_way():
    against = []
    for a, b in import_graph().edges:
        la, lb = a.split(".")[0], b.split(".")[0]
        if la in LAYERS and lb in LAYERS and LAYERS.index(lb) < LAYERS.index(la):
            against.append((a, b))
    assert against == [], f"imports against the layers (ringwatch -> ingest -> graph): {against}"


def test_vocabulary_imports_nothing_of_the_project():
    assert list(import_graph().successors("graph.vocabulary")) == []
