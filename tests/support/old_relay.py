"""A relay database as the previous release made it: schema version 2 (the shipped migrations
1-2, rendered for the backend, recorded where that release recorded the version), with rows
written the way its storage wrote them — store ids global, store secrets in clear (no key set)
or sealed by `NOVAPOS_RELAY_SECRET_KEY` without a check value, ack rows keyed by store id.

For the upgrade tests: open it with this build and check that everything is still there and
still works."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw
import msgspec

from cloud_relay.storage import schema
from cloud_relay.storage.schema import EVENT_COLUMNS
from core.chain import GENESIS_HASH
from core.migrations import POSTGRES, SQLITE, render
from core.signing import StoreCredential, new_credential
from schemas.sync import BatchAck, encode_batch
from tests.support.relay import Chain, database_url

OLD_VERSION = 2
OLD_EPOCH = "e0ld0ld0ld0ld0ld"
NOW_MS = 1_772_445_600_000


@dataclass
class OldStore:
    cred: StoreCredential
    chain: Chain
    batches: list[tuple[str, bytes]] = field(default_factory=list)  # (batch id, raw) stored


class _Conn:
    """`?` SQL on either backend's raw connection, inside one transaction."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend = backend
        if backend == "sqlite":
            self.conn: Any = apsw.Connection(url.removeprefix("sqlite://"))
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            self.conn = psycopg.connect(url)

    def run(self, sql: str, args: tuple = ()) -> None:
        if self.backend == "sqlite":
            self.conn.execute(sql, args)
        else:
            self.conn.execute(sql.replace("?", "%s") if args else sql, args or None)

    def commit(self) -> None:
        if self.backend == "sqlite":
            self.conn.execute("COMMIT")
        else:
            self.conn.commit()
        self.conn.close()


def make_old_database(backend: str, data_dir: Path, stores: list[tuple[str, str, int]],
                      seal_with: str | None = None) -> tuple[str, list[OldStore]]:
    """A version-2 database holding `stores` [(tenant, store, events uploaded)]; returns its
    URL and each store's credential, chain and the batch it uploaded (one batch each)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    url = database_url(backend, data_dir)
    db = _Conn(backend, url)
    dialect = SQLITE if backend == "sqlite" else POSTGRES
    for m in schema.MIGRATIONS[:OLD_VERSION]:
        db.run(render(m.sql, dialect))
    if backend == "sqlite":
        db.run(f"PRAGMA user_version={OLD_VERSION}")
    else:
        db.run("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(OLD_VERSION),))
    db.run("INSERT INTO meta (key, value) VALUES ('relay_epoch', ?)", (OLD_EPOCH,))
    made: list[OldStore] = []
    ledger_seq: dict[str, int] = {}
    for tenant, store, events in stores:
        cred = new_credential(tenant, store)
        secret = cred.secret
        if seal_with is not None:
            from cryptography.fernet import Fernet

            secret = b"fernet:" + Fernet(seal_with).encrypt(secret)
        if tenant not in ledger_seq:
            db.run("INSERT INTO tenants (tenant_id, next_ledger_seq, last_change_id, "
                   "created_at_ms) VALUES (?, 1, 0, ?)", (tenant, NOW_MS))
            ledger_seq[tenant] = 1
        chain = Chain(tenant, store)
        chain.extend(events)
        old = OldStore(cred, chain)
        high, last = (events, chain.log[-1].hash) if events else (0, GENESIS_HASH)
        db.run("INSERT INTO stores (store_id, tenant_id, key_id, secret, enrolled_at_ms, "
               "high_seq, last_hash, last_seen_ms, applied_change_id) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
               (store, tenant, cred.key_id, secret, NOW_MS, high, last, NOW_MS))
        if events:
            batch = chain.batch(1, events)
            raw = encode_batch(batch)
            for ev in chain.log:
                row = dict(zip(("store_id", "seq", "tenant_id", "event_id", "lane_id", "stream",
                                "type", "schema_version", "recorded_at_ms", "business_date",
                                "body", "prev_hash", "hash"),
                               (ev.store_id, ev.seq, ev.tenant_id, ev.event_id, ev.lane_id,
                                ev.stream, ev.type, ev.schema_version, ev.recorded_at_ms,
                                ev.business_date, ev.body, ev.prev_hash, ev.hash)))
                row.update(ledger_seq=ledger_seq[tenant], received_at_ms=NOW_MS,
                           quarantine=None)
                ledger_seq[tenant] += 1
                db.run(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "
                       f"({', '.join('?' * len(EVENT_COLUMNS))})",
                       tuple(row[c] for c in EVENT_COLUMNS))
            fingerprint = hashlib.sha256(raw).digest()
            ack = BatchAck(batch_id=batch.batch_id, accepted_through_seq=events,
                           last_hash_hex=last.hex(), stored=events, quarantined=[],
                           relay_epoch=OLD_EPOCH, fingerprint_hex=fingerprint.hex())
            db.run("INSERT INTO idempotency_keys (store_id, key, fingerprint, ack, "
                   "created_at_ms) VALUES (?, ?, ?, ?, ?)",
                   (store, batch.batch_id, fingerprint, msgspec.msgpack.encode(ack), NOW_MS))
            old.batches.append((batch.batch_id, raw))
        made.append(old)
    for tenant, next_seq in ledger_seq.items():
        db.run("UPDATE tenants SET next_ledger_seq = ? WHERE tenant_id = ?", (next_seq, tenant))
    db.commit()
    return url, made
