"""Opening the store database: WAL, synchronous=FULL, busy timeout, migrations.

Every connection that may write money uses `synchronous=FULL`: in WAL mode a commit returns
only after the WAL is fsynced, so an acknowledged sale survives power loss.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import apsw

from core import bodycodec
from core.errors import Refused
from core.migrations import Migration, SqliteTarget, latest
from core.migrations import migrate as run_migrations
from edge.store import log_migrations, migrations

DB_FILENAME = "store.db"
BUSY_TIMEOUT_MS = 5_000
# Per connection (the daemon holds one for the writer, one for the event loop's reads, one per
# print worker and, when it syncs, one for the sync engine). SQLite grows a connection's page
# cache up to this as pages are touched, and keeps it: at 64 MiB each the caches alone could
# reach ~190 MB in a busy daemon (they grew ~30 kB per sale). 8 MiB holds twice the WAL
# between automatic checkpoints (1,000 pages of 4 KiB), so every page a reader must take from
# the WAL stays cached; pages already checkpointed are read through the memory map, which
# copies nothing into the cache and needs no read() (those pages are the kernel's file cache:
# shared, and dropped first under memory pressure).
CACHE_KIB = 8 * 1024
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
    # A store's working set (open carts, today's orders, the catalog) stays in memory: a bounded
    # page cache (CACHE_KIB) and memory-mapped reads spare a read() syscall per page touched.
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}").fetchall()
    return conn


Schema = Sequence[tuple[str, Sequence[Migration]]]
# The store's baseline schema; `edge.compose` appends the components of later domains.
BASELINE: Schema = ((migrations.COMPONENT, migrations.MIGRATIONS),
                    (log_migrations.COMPONENT, log_migrations.MIGRATIONS))


def migrate(conn: apsw.Connection, schema: Schema) -> None:
    """Apply pending migrations of every component, each in its own transaction."""
    target = SqliteTarget(conn, migrations.COMPONENT)
    for component, steps in schema:
        run_migrations(target, component, steps)


def pending(conn: apsw.Connection, schema: Schema) -> list[str]:
    """Components whose migrations are not all applied (readiness reports them)."""
    target = SqliteTarget(conn, migrations.COMPONENT)
    return [c for c, steps in schema if target.current(c) != latest(steps)]


IDENTITY_KEY = "store.identity"


def check_identity(conn: apsw.Connection, recorded_as: dict[str, str]) -> None:
    """The store's identity (tenant, store, currency, time zone) is written into its database
    the first time it opens and must match on every start after: a damaged or swapped config
    file must never make a store's database serve as another store."""
    if not identity_matches(conn, recorded_as):
        with conn:
            conn.execute("INSERT INTO meta(key, value) VALUES (?, ?)",
                         (IDENTITY_KEY, json.dumps(recorded_as, sort_keys=True)))


def identity_matches(conn: apsw.Connection, recorded_as: dict[str, str]) -> bool:
    """Refused when the identity recorded in the database differs from `recorded_as`; False
    when none is recorded yet (read-only: `check_identity` records it)."""
    rows = conn.execute("SELECT value FROM meta WHERE key = ?", (IDENTITY_KEY,)).fetchall()
    if not rows:
        return False
    stored = json.loads(rows[0][0])
    differ = {k: (stored.get(k), v) for k, v in recorded_as.items() if stored.get(k) != v}
    if differ:
        what = ", ".join(f"{k} {old!r} in the database, {new!r} in the config"
                         for k, (old, new) in sorted(differ.items()))
        raise Refused(f"this store's database belongs to {stored.get('tenant_id')}/"
                      f"{stored.get('store_id')}; the configuration disagrees ({what}). Restore "
                      "config.toml (novapos-edge init writes one) instead of starting as another "
                      "store")
    return True


def open_store(data_dir: Path, schema: Schema) -> apsw.Connection:
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = open_connection(data_dir / DB_FILENAME)
    migrate(conn, schema)
    register_dictionaries(conn)
    return conn


def register_dictionaries(conn: apsw.Connection) -> None:
    """Make the body dictionaries this database carries known to `core.bodycodec` (and refuse
    a database whose dictionary of a version differs from this release's). A database the
    `store.log` migration has not reached yet holds JSON bodies only."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'body_dictionaries'").fetchall():
        return
    for version, dictionary in conn.execute("SELECT version, dictionary FROM body_dictionaries"):
        bodycodec.register(version, dictionary)
