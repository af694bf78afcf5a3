"""The import graph of a package, read from the source with ``ast`` (nothing is imported):
every ``import``/``from … import`` anywhere in a module (in functions and under
``TYPE_CHECKING`` too), resolved to the module it names."""

from __future__ import annotations

import ast
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    """``onecode/codes/cli.py`` -> ``onecode.codes.cli``; an ``__init__`` is its package."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(name: str, known: set[str]) -> str:
    """The longest known module that ``name`` names or lies in (``pkg.mod.func`` -> ``pkg.mod``)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name


def _named(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement reaches for (absolute, before resolution)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        package = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    # ``from pkg import name``: name may be a module of pkg, or a name defined in pkg
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def import_graph(root: Path) -> dict[str, set[str]]:
    """``{module: {modules of the same tree it imports}}`` for every ``.py`` under ``root``."""
    paths = sorted(root.rglob("*.py"))
    names = {module_name(p, root): p for p in paths}
    known = set(names)
    graph: dict[str, set[str]] = {}
    for module, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and not node.level:
                top = (node.module or "").partition(".")[0]
                if top != root.name:
                    continue
            for name in _named(node, module, is_package):
                if name.partition(".")[0] != root.name:
                    continue
                # the bare ``from pkg import x`` base counts only when x is not a module
                if (
                    isinstance(node, ast.ImportFrom)
                    and name == (node.module or "")
                    and all(f"{name}.{a.name}" in known for a in node.names)
                ):
                    continue
                resolved = _resolve(name, known)
                if resolved and resolved != module:
                    targets.add(resolved)
        graph[module] = targets
    return graph


def third_party_imports(path: Path) -> set[str]:
    """The top-level names of every module ``path`` imports (``litestar``, ``asyncpg``, …)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    tops: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            tops.add(node.module.partition(".")[0])
    return tops
