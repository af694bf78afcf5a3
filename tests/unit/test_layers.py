"""The house's floors: every import in ``onecode/`` runs down (or sideways within a floor),
never back up. Read from the source with ``ast``, so function-local imports count too.

    floor 5  cli, __main__          the ``onecode`` command: reads each domain's COMMANDS
    floor 4  demo                   a tool that drives the assembled app
    floor 3  app                    the composition root: reads each domain's ROUTES
    floor 2  the domains            catalog/ bookings/ gates/ … (any package not named below)
    floor 1  auth, observability, ratelimit     principals and the HTTP middleware
    floor 0  settings, sql, errors, logs, db, migrate, devdb, commands, crowd, http/, codes/, i18n/

A module that is not named here counts as a domain (floor 2): it may use floors 0-2 and
must not import the app, the demo or the command line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.imports import import_graph, module_name, third_party_imports

ROOT = Path(__file__).resolve().parents[2] / "onecode"

FLOORS: dict[str, int] = {
    "onecode.cli": 5,
    "onecode.__main__": 5,
    "onecode.demo": 4,
    "onecode.app": 3,
    "onecode.auth": 1,
    "onecode.observability": 1,
    "onecode.ratelimit": 1,
    "onecode": 0,  # the package itself: __version__
    "onecode.settings": 0,
    "onecode.sql": 0,
    "onecode.errors": 0,
    "onecode.logs": 0,
    "onecode.db": 0,
    "onecode.migrate": 0,
    "onecode.devdb": 0,
    "onecode.commands": 0,
    "onecode.tasks": 0,
    "onecode.crowd": 0,
    "onecode.http": 0,
    "onecode.codes": 0,
    "onecode.i18n": 0,  # message catalogs: babel only, read by errors and the domains
}
DOMAIN_FLOOR = 2


def floor(module: str) -> int:
    """The floor of a module: its own entry, else its package's, else a domain's."""
    if module == "onecode":
        return FLOORS[module]
    parts = module.split(".")
    for n in range(len(parts), 1, -1):  # onecode.a.b, then onecode.a (never bare onecode)
        prefix = ".".join(parts[:n])
        if prefix in FLOORS:
            return FLOORS[prefix]
    return DOMAIN_FLOOR


def room(module: str) -> str:
    """The folder (or loose file) a module lives in: ``onecode.catalog.service`` -> catalog."""
    parts = module.split(".")
    return ".".join(parts[:2])


def back_up(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{a} (floor {floor(a)}) imports {b} (floor {floor(b)})"
        for a, targets in graph.items()
        for b in targets
        if floor(b) > floor(a)
    )


def room_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Loops between rooms (folders or loose files), e.g. catalog/ -> places/ -> catalog/."""
    edges: dict[str, set[str]] = {}
    for a, targets in graph.items():
        for b in targets:
            if room(a) != room(b) and room(b) != "onecode":
                edges.setdefault(room(a), set()).add(room(b))
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    return circles


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = import_graph(ROOT)
    assert "onecode.cli" in found and "onecode.catalog.service" in found  # read the real tree
    return found


def test_nothing_below_the_command_line_imports_it(graph: dict[str, set[str]]) -> None:
    users = sorted(a for a, targets in graph.items() if "onecode.cli" in targets)
    assert users == ["onecode.__main__"]


def test_no_domain_imports_the_app_or_the_tools(graph: dict[str, set[str]]) -> None:
    top = {"onecode.app", "onecode.demo", "onecode.cli", "onecode.__main__"}
    wrong = sorted(
        f"{a} -> {b}"
        for a, targets in graph.items()
        if floor(a) <= DOMAIN_FLOOR
        for b in targets
        if any(b == t or b.startswith(t + ".") for t in top)
    )
    assert wrong == []


def test_no_import_runs_back_up(graph: dict[str, set[str]]) -> None:
    assert back_up(graph) == []


def test_rooms_import_each_other_in_no_circle(graph: dict[str, set[str]]) -> None:
    assert room_circles(graph) == []


def test_rules_and_codes_import_no_web_framework() -> None:
    """service.py and models.py hold the rules and the wire shapes; codes/ is a library that
    third-party tools use: none of them imports Litestar (codes/ not asyncpg either)."""
    wrong: list[str] = []
    for path in sorted(ROOT.rglob("*.py")):
        module = module_name(path, ROOT)
        used = third_party_imports(path)
        if path.name in ("service.py", "models.py") and "litestar" in used:
            wrong.append(f"{module}: litestar")
        if module.startswith("onecode.codes") and used & {"litestar", "asyncpg"}:
            wrong.append(f"{module}: {sorted(used & {'litestar', 'asyncpg'})}")
    assert wrong == []


def test_the_checks_see_a_wrong_import() -> None:
    """The checks above would catch the faults they guard against (issue 14)."""
    bad = {
        "onecode.codes.cli": {"onecode.cli"},  # a domain importing the command line
        "onecode.cli": {"onecode.codes.cli"},
        "onecode.catalog.service": {"onecode.places.signing"},  # catalog -> places -> catalog
        "onecode.places.signing": set(),
        "onecode.places.service": {"onecode.catalog.service"},
        "onecode.sql": {"onecode.auth"},  # the ground importing floor 1
    }
    assert back_up(bad) == [
        "onecode.codes.cli (floor 0) imports onecode.cli (floor 5)",
        "onecode.sql (floor 0) imports onecode.auth (floor 1)",
    ]
    assert room_circles(bad) == [
        ["onecode.catalog", "onecode.places", "onecode.catalog"],
        ["onecode.cli", "onecode.codes", "onecode.cli"],
    ]
