"""The tree's layering, checked on the source: core at the bottom, stage packages that import
only each other without cycles, composition (`redraft.loop`) and the CLI on top.

docs/architecture.md draws the same picture; this keeps the code and the picture the same.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Where each installed package's source lives (pyproject.toml's package-dir).
SOURCES = {
    "redraft": REPO / "redraft",
    "redraft.backend": REPO / "backend",
    "redraft.exporters": REPO / "exporters",
    "redraft.label_config": REPO / "label_config",
}
TOP = ("loop", "cli")  # may import anything; nothing below imports them


def module_files() -> dict[str, Path]:
    """Every redraft module name → its file."""
    found = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def layer_of(module: str) -> str:
    """`core` for redraft's top-level modules, else the package right under `redraft`.

    >>> layer_of("redraft.settings"), layer_of("redraft.backend.app"), layer_of("redraft")
    ('core', 'backend', 'core')
    """
    parts = module.split(".")
    packages = {p.name for p in REPO.joinpath("redraft").iterdir() if p.is_dir()}
    packages |= {"backend", "exporters", "label_config"}
    return parts[1] if len(parts) > 1 and parts[1] in packages else "core"


def imports() -> list[tuple[str, str, int]]:
    """(importing module, imported redraft module, 1 when inside a function) for the tree."""
    found = []
    for name, path in module_files().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nested = {
            id(node)
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
            for node in ast.walk(function)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if target == "redraft" or target.startswith("redraft."):
                    found.append((name, target, int(id(node) in nested)))
    return found


def test_nothing_below_the_top_imports_the_composition_layer_or_the_cli() -> None:
    upward = [
        (source, target)
        for source, target, _ in imports()
        if layer_of(source) not in TOP and layer_of(target) in TOP
    ]
    assert upward == []


def test_the_core_imports_no_stage() -> None:
    assert [
        (source, target)
        for source, target, _ in imports()
        if layer_of(source) == "core" and layer_of(target) != "core"
    ] == []


def test_stage_packages_import_each_other_without_a_cycle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target, _ in imports():
        a, b = layer_of(source), layer_of(target)
        if a != b and "core" not in (a, b) and a not in TOP:
            graph[a].add(b)
    assert _cycles(graph) == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one package (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a two-package loop is reported."""
    assert _cycles({"a": {"b"}, "b": {"a", "c"}, "c": set()}) == [["a", "b"]]
