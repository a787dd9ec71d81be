"""Opening the store database: WAL, synchronous=FULL, busy timeout, migrations.

Every connection that may write money uses `synchronous=FULL`: in WAL mode a commit returns
only after the WAL is fsynced, so an acknowledged sale survives power loss.
"""

from __future__ import annotations

import time
from pathlib import Path

import apsw

from edge.store.migrations import LATEST_VERSION, MIGRATIONS

DB_FILENAME = "store.db"
BUSY_TIMEOUT_MS = 5_000
CACHE_KIB = 64 * 1024
MMAP_BYTES = 256 * 1024 * 1024


def open_connection(path: Path | str, *, readonly: bool = False) -> apsw.Connection:
    flags = apsw.SQLITE_OPEN_READONLY if readonly else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
    conn = apsw.Connection(str(path), flags=flags)
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    if not readonly:
        # journal_mode returns a row: fetch it so the pragma really runs.
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchall()[0][0]
        assert mode == "wal", f"could not enable WAL on {path}: {mode}"
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    # A store's working set (open carts, today's orders, the catalog) stays in memory: a 64 MiB
    # page cache and memory-mapped reads spare a read() syscall per page touched.
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}").fetchall()
    return conn


def schema_version(conn: apsw.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchall()[0][0])


def migrate(conn: apsw.Connection) -> int:
    """Apply pending migrations, each in its own transaction. Returns the resulting version."""
    current = schema_version(conn)
    if current > LATEST_VERSION:
        raise RuntimeError(
            f"database schema version {current} is newer than this build ({LATEST_VERSION})"
        )
    for version, _title, sql in MIGRATIONS:
        if version <= current:
            continue
        with conn:  # one transaction per migration: all of it or none
            conn.execute(sql)
            conn.execute(f"PRAGMA user_version={version}")
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                (f"migration.{version}.applied_at_ms", str(time.time_ns() // 1_000_000)),
            )
    return schema_version(conn)


def open_store(data_dir: Path) -> apsw.Connection:
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = open_connection(data_dir / DB_FILENAME)
    migrate(conn)
    return conn
