"""The embedded location store and users table: one SQLite file in WAL mode.

WAL lets several ``serve`` worker processes read while one writes; each REGISTER is one
short ``BEGIN IMMEDIATE`` transaction (read the AOR, run the registrar's pure function,
write), so two workers never interleave updates of one AOR. ``synchronous=NORMAL``: a
committed binding survives a crash of the process (the WAL is on disk); a power loss may
lose the last few, which a phone's next refresh restores. Calls are synchronous and take
tens of microseconds on a local disk, well below a SIP retransmission interval, so they
run on the event loop; a networked store would be truly asynchronous.

Users: ``users(username, realm, algorithm, ha1)`` holds only HA1 digests (RFC 7616 §3.4,
never a password), one row per hash algorithm so both MD5 and SHA-256 challenges work.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from ..auth.digest import ha1
from ..registrar import Binding
from .location import Mutation, binding_from_json, binding_to_json

__all__ = ["USER_ALGORITHMS", "SQLiteLocationStore", "SQLiteUserStore", "prepare"]

T = TypeVar("T")

#: The HA1 variants stored per user (RFC 8760: SHA-256 first, MD5 for old phones).
USER_ALGORITHMS = ("SHA-256", "MD5")

#: Tries at setting up a database another process is setting up too.
_SETUP_ATTEMPTS = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bindings (
    aor TEXT NOT NULL,
    key TEXT NOT NULL,
    expires_at REAL NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (aor, key)
);
CREATE INDEX IF NOT EXISTS bindings_expiry ON bindings (expires_at);
CREATE TABLE IF NOT EXISTS users (
    username TEXT NOT NULL,
    realm TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    ha1 TEXT NOT NULL,
    PRIMARY KEY (username, realm, algorithm)
);
"""


def _connect(path: str | Path) -> sqlite3.Connection:
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), isolation_level=None, timeout=10.0)
    try:
        # Switching a new file to WAL takes an exclusive lock, and SQLite may answer
        # "database is locked" at once (without its busy wait) when another process
        # opens the same new file at that moment: retried, bounded.
        for attempt in range(_SETUP_ATTEMPTS):
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == _SETUP_ATTEMPTS - 1:
                    raise
                time.sleep(0.05)
    except BaseException:
        db.close()
        raise
    return db


def prepare(path: str | Path) -> None:
    """Create the database file, its WAL mode and tables, once, before worker
    processes open it together (``serve --workers N``)."""
    _connect(path).close()


class SQLiteLocationStore:
    """:class:`~sipwright.server.location.LocationStore` on a SQLite file (or ``:memory:``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self._db = _connect(path)

    def _lookup(self, aor: str, now: float) -> list[Binding]:
        rows = self._db.execute(
            "SELECT data FROM bindings WHERE aor = ? AND expires_at > ? ORDER BY key",
            (aor, now),
        ).fetchall()
        return [binding_from_json(data) for (data,) in rows]

    async def lookup(self, aor: str, now: float) -> list[Binding]:
        return self._lookup(aor, now)

    async def update(self, aor: str, now: float, mutation: Mutation[T]) -> T:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            bindings, changed, result = mutation(self._lookup(aor, now))
            if changed:
                db.execute("DELETE FROM bindings WHERE aor = ?", (aor,))
                db.executemany(
                    "INSERT INTO bindings (aor, key, expires_at, data) VALUES (?, ?, ?, ?)",
                    [(aor, "|".join(b.key()), b.expires_at, binding_to_json(b)) for b in bindings],
                )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    async def sweep(self, now: float) -> int:
        cursor = self._db.execute("DELETE FROM bindings WHERE expires_at <= ?", (now,))
        return cursor.rowcount

    async def all_bindings(self, now: float, limit: int | None = None) -> list[Binding]:
        rows = self._db.execute(
            "SELECT data FROM bindings WHERE expires_at > ? ORDER BY aor, key LIMIT ?",
            (now, -1 if limit is None else max(0, limit)),
        ).fetchall()
        return [binding_from_json(data) for (data,) in rows]

    async def count(self, now: float) -> int:
        (n,) = self._db.execute(
            "SELECT COUNT(*) FROM bindings WHERE expires_at > ?", (now,)
        ).fetchone()
        return int(n)

    async def close(self) -> None:
        self._db.close()


class SQLiteUserStore:
    """Digest users (HA1 only) in the same SQLite file as the bindings."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self._db = _connect(path)

    def add(
        self,
        username: str,
        realm: str,
        password: str,
        algorithms: Iterable[str] = USER_ALGORITHMS,
    ) -> None:
        """Create or replace a user; only ``H(username:realm:password)`` is stored."""
        rows = [(username, realm, alg, ha1(username, realm, password, alg)) for alg in algorithms]
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "DELETE FROM users WHERE username = ? AND realm = ?", (username, realm)
            )
            self._db.executemany(
                "INSERT INTO users (username, realm, algorithm, ha1) VALUES (?, ?, ?, ?)", rows
            )

    def remove(self, username: str, realm: str) -> bool:
        with self._db:
            self._db.execute("BEGIN")
            cursor = self._db.execute(
                "DELETE FROM users WHERE username = ? AND realm = ?", (username, realm)
            )
        return cursor.rowcount > 0

    def lookup_ha1(self, username: str, realm: str, algorithm: str) -> str | None:
        """The stored HA1 (the :data:`~sipwright.auth.server.HA1Lookup` signature)."""
        row = self._db.execute(
            "SELECT ha1 FROM users WHERE username = ? AND realm = ? AND algorithm = ?",
            (username, realm, algorithm.upper()),
        ).fetchone()
        return None if row is None else str(row[0])

    def users(self) -> list[tuple[str, str]]:
        rows = self._db.execute(
            "SELECT DISTINCT username, realm FROM users ORDER BY realm, username"
        ).fetchall()
        return [(str(u), str(r)) for u, r in rows]

    def close(self) -> None:
        self._db.close()
