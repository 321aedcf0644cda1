"""The project's import graph has no circle (lazy imports inside functions count too), and the
client is split into rooms: the SDK core, `client/gallery/`, `client/cli/`."""
from __future__ import annotations

import ast
from pathlib import Path

from pipeline_support import REPO

SKIP = {".venv", ".venv-bench", "tests", ".git", "runs", "cache", "logs"}


def project_modules() -> dict[str, Path]:
    modules = {}
    for path in REPO.rglob("*.py"):
        parts = path.relative_to(REPO).parts
        if parts[0] in SKIP or parts[0].startswith("."):
            continue
        names = list(parts[:-1]) + ([] if path.stem == "__init__" else [path.stem])
        modules[".".join(names)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
            # `from pkg import mod, mod2` imports the modules, not the package's own names
            targets = submodules if len(submodules) == len(node.names) else [base] + submodules
        else:
            continue
        found |= {t for t in targets if t in modules and t != name}
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [node, nxt] if nxt in path else path + [node, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [node])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [])):
            return cycle
    return None


def test_find_cycle_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_project_has_no_import_circle():
    modules = project_modules()
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert "client.cli.main" in graph and "client.gallery.store" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_client_has_rooms():
    flat = sorted(p.stem for p in (REPO / "client").glob("*.py"))
    assert not [name for name in flat if name.startswith("gallery")], "gallery code belongs in client/gallery/"
    assert (REPO / "client/gallery/__init__.py").exists() and (REPO / "client/cli/__init__.py").exists()
