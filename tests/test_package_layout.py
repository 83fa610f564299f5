"""The package's shape (issue #12): one namespace, no import circle, packaging lists every folder.

Read from the source with :mod:`ast` (imports inside functions count too), so the checks
hold for code paths no other test runs.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Repository folder -> package it installs as (pyproject.toml's package-dir).
FOLDERS = {"imaging": "spmito.imaging", "segment": "spmito.segment",
           "measure": "spmito.measure", "plugins": "spmito.plugins"}
OLD_TOP_LEVEL = set(FOLDERS)


def _modules() -> dict[str, Path]:
    """Every module of the spmito namespace: dotted name -> file."""
    modules = {"spmito": ROOT / "spmito" / "__init__.py"}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            modules[name] = path
    return modules


def _runtime_nodes(tree: ast.AST):
    """Every node but those under ``if TYPE_CHECKING:`` (type-only imports never run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            yield from (n for child in node.orelse for n in ast.walk(child))
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The namespace's modules that ``path`` imports, anywhere in the file."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1],
                                 *([base] if base else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (empty when there is none)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                return stack[stack.index(child):] + [child]
            if child not in state and (found := visit(child)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_import_circle_among_the_project_modules():
    modules = _modules()
    graph = {name: {m for m in _imports(path, name, modules)
                    # a package's __init__ re-exporting its own modules is no circle
                    if not (m.startswith(name + ".") and path.name == "__init__.py")}
             for name, path in modules.items()}
    assert _cycle(graph) == []


def test_no_module_imports_the_old_top_level_names():
    offenders = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            offenders += [f"{name}: {n}" for n in names if n.split(".")[0] in OLD_TOP_LEVEL]
    assert offenders == []


def test_pyproject_lists_every_package_folder():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    folders = {name for name, path in _modules().items() if path.name == "__init__.py"}
    assert listed == folders
    assert config["project"]["scripts"]["spmito"].startswith("spmito.")
    assert config["project"]["entry-points"]["napari.manifest"]["spmito"] == \
        "spmito.plugins:napari.yaml"
