"""Relay storage backends behind one interface (`base.Storage`): SQLite (default) and
PostgreSQL. `open_storage(url)` picks one from a database URL."""

from __future__ import annotations

from pathlib import Path

from cloud_relay.storage.base import Storage


def open_storage(url: str) -> Storage:
    """`sqlite:///path/to/relay.db` (or a plain path) or `postgresql://…`."""
    if url.startswith(("postgresql://", "postgres://")):
        from cloud_relay.storage.postgres import PostgresStorage

        return PostgresStorage(url)
    from cloud_relay.storage.sqlite import SqliteStorage

    # Everything after "sqlite://" is the path: sqlite:///var/lib/relay.db is absolute.
    return SqliteStorage(Path(url.removeprefix("sqlite://")))


__all__ = ["Storage", "open_storage"]
