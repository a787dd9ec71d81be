"""Relay storage backends behind one interface (`base.Storage`): SQLite (default) and
PostgreSQL. `open_storage(url)` picks one from a database URL."""

from __future__ import annotations

from pathlib import Path

from cloud_relay.sealing import Sealer
from cloud_relay.storage.base import Storage


def open_storage(url: str, secret_key: bytes | str | None = None) -> Storage:
    """`sqlite:///path/to/relay.db` (or a plain path) or `postgresql://…`. With `secret_key`
    (a Fernet key) store secrets are sealed at rest (`cloud_relay.sealing`)."""
    if url.startswith(("postgresql://", "postgres://")):
        from cloud_relay.storage.postgres import PostgresStorage

        storage: Storage = PostgresStorage(url)
    else:
        from cloud_relay.storage.sqlite import SqliteStorage

        # Everything after "sqlite://" is the path: sqlite:///var/lib/relay.db is absolute.
        storage = SqliteStorage(Path(url.removeprefix("sqlite://")))
    storage.sealer = Sealer(secret_key)
    return storage


__all__ = ["Storage", "open_storage"]
