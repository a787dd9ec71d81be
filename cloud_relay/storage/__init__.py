"""Relay storage backends behind one interface (`base.Storage`): SQLite (default) and
PostgreSQL. `open_storage(url, ...)` picks one from a database URL, brings its schema up to
date and gives it the key that seals store secrets (`cloud_relay.sealing`)."""

from __future__ import annotations

from pathlib import Path

import structlog

from cloud_relay.sealing import KEY_FILENAME, KeyMissing, Sealer, load_key
from cloud_relay.storage.base import Storage

log = structlog.get_logger("novapos.relay")


def _backend(url: str) -> Storage:
    if url.startswith(("postgresql://", "postgres://")):
        from cloud_relay.storage.postgres import PostgresStorage

        return PostgresStorage(url)
    from cloud_relay.storage.sqlite import SqliteStorage

    # Everything after "sqlite://" is the path: sqlite:///var/lib/relay.db is absolute.
    return SqliteStorage(Path(url.removeprefix("sqlite://")))


def open_storage(url: str, secret_key: bytes | str | None = None,
                 key_file: Path | None = None) -> Storage:
    """`sqlite:///path/to/relay.db` (or a plain path) or `postgresql://…`.

    The sealing key: `secret_key` when given, else `load_key(key_file)` (the environment
    variable, the file, or a new file when nothing is sealed yet). Without a `key_file`, a
    SQLite database keeps its key file beside it; a PostgreSQL one needs one named (the CLI
    names `relay-secret.key` in the data directory). Secrets still in clear are sealed here."""
    storage = _backend(url)
    try:
        if secret_key is None:
            if key_file is None:
                if storage.backend != "sqlite":
                    raise KeyMissing("a PostgreSQL relay needs its secret key: a key file or "
                                     "the key itself")
                key_file = Path(url.removeprefix("sqlite://")).parent / KEY_FILENAME
            secret_key = load_key(key_file, may_create=not storage.sealed_before())
        sealed = storage.adopt_sealer(Sealer(secret_key))
    except BaseException:
        storage.close()
        raise
    if sealed:
        log.warning("sealed store secrets that were stored in clear", count=sealed)
    return storage


__all__ = ["Storage", "open_storage"]
