"""What a storage backend supplies: transactions, its fastest event insert and its way of
holding an idempotency key in flight. Everything above it (`credentials`, `ingest`, `ledger`,
`publish`) is SQL written once, with `?` placeholders, over these hooks.

Invariants a backend keeps:
- `_write()` is one transaction: committed on a clean exit, rolled back on any exception, so
  a refusal raised half-way leaves nothing behind.
- `_read()` is one snapshot: every statement of a read sees the same committed state.
- An idempotency key in flight: `_hold_local(scope, key)` holds it in this process before the
  upload queues (`IdempotencyKeyInFlight` if held), and `_claim_keys(tx, keys)` claims keys
  inside the transaction storing them, visible to every relay process over the same database
  and released only when that transaction ends (a key another process holds is not claimed).
"""

from __future__ import annotations

import abc
import contextlib
import secrets
from collections.abc import Sequence
from typing import Any

from cloud_relay.sealing import Sealer
from schemas.envelope import COLUMNS

# Column order of a row `_insert_events` writes: the envelope's fields in the envelope's own
# order (so ingest makes a row from an event's tuple, not field by field), then the ledger's
# metadata. Every one of `schema.EVENT_COLUMNS`, once.
INSERT_COLUMNS = (*COLUMNS, "ledger_seq", "received_at_ms", "quarantine")


class Tx(abc.ABC):
    """A transaction's cursor: `?` placeholders on every backend."""

    @abc.abstractmethod
    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]: ...

    @abc.abstractmethod
    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def each(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[tuple | None]:
        """`sql` once per argument row, in order; the first result row of each (None when it
        returned none). A backend may send them all in one round trip."""
        return [self.one(sql, args) for args in rows]

    @abc.abstractmethod
    def script(self, sql: str) -> None:
        """Several statements without parameters (a migration's DDL)."""

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple | None:
        found = self.rows(sql, args)
        return found[0] if found else None


class Backend(abc.ABC):
    # Appended to a SELECT that reads a row the transaction then updates: PostgreSQL's
    # writers run concurrently and must lock it; SQLite's writers are serialized already.
    FOR_UPDATE = ""
    # Driver errors meaning "the database cannot be reached or is locked right now": a group
    # of batches failing with one of these fails as a whole (each would fail the same way).
    UNAVAILABLE: tuple[type[BaseException], ...] = ()
    backend = "abstract"
    epoch: str
    sealer: Sealer  # seals store secrets at rest; given by `open_storage` (`adopt_sealer`)

    @abc.abstractmethod
    def _write(self) -> contextlib.AbstractContextManager[Tx]:
        """A write transaction (committed on clean exit, rolled back on an exception)."""

    @abc.abstractmethod
    def _read(self) -> contextlib.AbstractContextManager[Tx]:
        """A read-only snapshot."""

    @abc.abstractmethod
    def _insert_events(self, tx: Tx, rows: list[tuple]) -> None:
        """Insert event rows in `INSERT_COLUMNS` order, as fast as the backend can."""

    @abc.abstractmethod
    def _hold_local(self, scope: str, key: str) -> contextlib.AbstractContextManager[None]:
        """Hold the idempotency key (scope, key) in flight in this process until the block
        exits; raises `IdempotencyKeyInFlight` if a request of this process holds it."""

    def _claim_keys(self, tx: Tx, keys: Sequence[tuple[str, str]]) -> list[bool]:
        """Claim keys for the rest of `tx` against other processes; False: another holds it.
        By default the process-local hold is the whole truth (one writer at a time)."""
        return [True] * len(keys)

    @abc.abstractmethod
    def hold_key(self, scope: str, key: str) -> contextlib.AbstractContextManager[None]:
        """Hold a key in flight (as a concurrent request would) until the block exits."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def rotate_epoch(self) -> str:
        """A new relay epoch, for after a restore from backup: ledger positions handed out
        since the backup may be re-assigned to other events, so every HQ cursor must resync.
        Run with the relay processes stopped (each reads the epoch when it starts)."""
        new = secrets.token_hex(8)
        with self._write() as tx:
            tx.rows("UPDATE meta SET value = ? WHERE key = 'relay_epoch'", (new,))
        self.epoch = new
        return new


def ensure_tenant(tx: Tx, tenant_id: str, now_ms: int) -> None:
    """The tenant's counter row (ledger order, change ids), created on first use."""
    tx.rows("INSERT INTO tenants (tenant_id, next_ledger_seq, last_change_id, created_at_ms) "
            "VALUES (?, 1, 0, ?) ON CONFLICT (tenant_id) DO NOTHING", (tenant_id, now_ms))
