"""Named SQL queries: plain ``.sql`` files in ``sql/queries/``, one statement per
``-- name: <domain>_<verb>_<object>`` header, loaded once at start."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_NAME = re.compile(r"^--\s*name:\s*([a-z][a-z0-9_]*)\s*$", re.MULTILINE)


def sql_root() -> Path:
    """Where the ``sql/`` folder is: inside the wheel, or beside the package in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_sql", here.parent / "sql"):
        if (candidate / "migrations").is_dir():
            return candidate
    raise FileNotFoundError("onecode's sql/ folder is missing from this installation")


def parse_queries(text: str, source: str = "<string>") -> dict[str, str]:
    """Split a queries file into ``{name: statement}``."""
    out: dict[str, str] = {}
    matches = list(_NAME.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[match.end() : end].strip()
        # strip trailing comment lines and the final semicolon
        body = re.sub(r"(?m)^\s*--.*$", "", body).strip().rstrip(";").strip()
        name = match.group(1)
        if not body:
            raise ValueError(f"{source}: query {name} is empty")
        if name in out:
            raise ValueError(f"{source}: query {name} is defined twice")
        out[name] = body
    return out


class Queries:
    """All named queries, by name: ``Q["bookings_insert_booking"]``."""

    def __init__(self, statements: dict[str, str]) -> None:
        self._statements = statements

    def __getitem__(self, name: str) -> str:
        return self._statements[name]

    def __contains__(self, name: object) -> bool:
        return name in self._statements

    def names(self) -> list[str]:
        return sorted(self._statements)

    @classmethod
    def load(cls, folder: Path | None = None) -> Queries:
        folder = folder or sql_root() / "queries"
        statements: dict[str, str] = {}
        for path in sorted(folder.glob("*.sql")):
            for name, body in parse_queries(path.read_text(encoding="utf-8"), str(path)).items():
                if name in statements:
                    raise ValueError(f"{path}: query {name} is defined in two files")
                statements[name] = body
        return cls(statements)


@cache
def queries() -> Queries:
    """The process-wide query set, read from disk once."""
    return Queries.load()


Q = queries
