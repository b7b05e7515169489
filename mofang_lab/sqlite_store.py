"""The SQLite file behind the job store and the sweep store.

Both stores keep one file in the user's private storage, opened in autocommit
mode so that each write is an explicit ``BEGIN IMMEDIATE`` transaction: a
server killed halfway leaves either the whole change or none of it, which is
what lets a restarted server take up jobs and sweeps without losing or
repeating one. This module holds the part they share: opening the file with a
clear error, the transaction, and reading stored times.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from mofang_spawner.errors import ConfigurationError

__all__ = ["EVENTS_PAGE", "SqliteStore", "stored_time"]

#: Most events one read of a store returns; a reader that gets a full page reads on.
EVENTS_PAGE = 1000


def stored_time(value: float | None) -> datetime | None:
    """A time stored as seconds since the epoch, back as an aware UTC datetime."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


class SqliteStore:
    """One SQLite file with a schema; subclasses add the queries."""

    def __init__(self, path: Path, *, schema: str, what: str, setting: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=10, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.executescript(schema)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(
                f"Cannot open the {what} {path} ({exc}); set {setting} "
                "to a writable file on a local disk."
            ) from exc
        self.path = path

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
