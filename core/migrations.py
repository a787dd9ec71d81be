"""One migration runner for every database the product owns: the store's SQLite file and the
relay's SQLite file or PostgreSQL database.

A component (the store's baseline schema, a domain's tables, the relay ledger) has an ordered
list of `Migration`s numbered 1, 2, 3, ... Append only: a shipped migration is never edited.
A `Target` knows how to read a component's applied version and how to apply one migration in
one transaction (its SQL and the version bump commit together, or neither). The runner refuses
a database newer than the build and a list with gaps.

DDL shared by several SQL dialects is written once with `{TOKENS}` that `render` maps per
dialect (`SQLITE`, `POSTGRES`): integer and byte types, and SQLite's WITHOUT ROWID.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    title: str
    sql: str


class SchemaTooNew(RuntimeError):
    pass


class Target(Protocol):
    def current(self, component: str) -> int: ...

    def apply(self, component: str, migration: Migration) -> None:
        """Run `migration.sql` and record `migration.version` in one transaction."""


def latest(migrations: Sequence[Migration]) -> int:
    return migrations[-1].version if migrations else 0


def check(component: str, migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"{component}: migrations must be numbered 1..n, got {versions}")


def migrate(target: Target, component: str, migrations: Sequence[Migration]) -> int:
    """Apply what `target` lacks of `component`; returns the version it ends at."""
    check(component, migrations)
    current = target.current(component)
    if current > latest(migrations):
        raise SchemaTooNew(f"{component}: database schema version {current} is newer than "
                           f"this build ({latest(migrations)})")
    for m in migrations:
        if m.version > current:
            target.apply(component, m)
            current = m.version
    return current


_TOKEN = re.compile(r"\{([A-Z_]+)\}")


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    tokens: Mapping[str, str]


SQLITE = Dialect("sqlite", {"BIGINT": "INTEGER", "BYTES": "BLOB", "WITHOUT_ROWID": "WITHOUT ROWID"})
POSTGRES = Dialect("postgresql", {"BIGINT": "BIGINT", "BYTES": "BYTEA", "WITHOUT_ROWID": ""})


def render(sql: str, dialect: Dialect) -> str:
    """`sql` with each `{TOKEN}` replaced by the dialect's spelling."""
    out = _TOKEN.sub(lambda m: dialect.tokens[m.group(1)], sql)
    return out


class SqliteTarget:
    """A SQLite database (apsw) as a migration target. The database's main component keeps
    its version in `PRAGMA user_version` (how every shipped store and relay file records it);
    further components in a `schema_versions` table. Each migration runs in one transaction
    with its version bump."""

    def __init__(self, conn, main_component: str) -> None:
        self._conn = conn
        self._main = main_component

    def current(self, component: str) -> int:
        if component == self._main:
            return int(self._conn.execute("PRAGMA user_version").fetchall()[0][0])
        if not self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                  "name = 'schema_versions'").fetchall():
            return 0
        rows = self._conn.execute("SELECT version FROM schema_versions WHERE component = ?",
                                  (component,)).fetchall()
        return int(rows[0][0]) if rows else 0

    def apply(self, component: str, migration: Migration) -> None:
        with self._conn:  # one transaction: all of it or none
            self._conn.execute(migration.sql)
            if component == self._main:
                self._conn.execute(f"PRAGMA user_version={int(migration.version)}")
            else:
                self._conn.execute("CREATE TABLE IF NOT EXISTS schema_versions (component TEXT "
                                   "PRIMARY KEY, version INTEGER NOT NULL) STRICT")
                self._conn.execute(
                    "INSERT INTO schema_versions(component, version) VALUES (?, ?) "
                    "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                    (component, migration.version))
