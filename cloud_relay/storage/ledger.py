"""HQ's reads of the ledger: pages in the tenant's order, one store's events, the events of one
type (through the partial indexes the schema creates), quarantine, and sync status; and pages
in their wire form (`ledger_json`, `write_jsonl`: each event's `LedgerEvent` JSON), which a
backend may have its database write (PostgreSQL does) as long as the bytes are the same.

Invariants:
- Every read runs in one snapshot (`Backend._read`).
- A tenant's ledger is ordered by `ledger_seq` (gapless, commit order: see `ingest`); a store's
  events by its own `seq`. A store is always named with its tenant.
- Quarantine is the only thing a read side ever changes in the ledger (`clear_quarantine`,
  after an upgrade teaches the relay a type): an event's envelope is never rewritten.
"""

from __future__ import annotations

from binascii import b2a_base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from cloud_relay.storage.backend import Backend
from cloud_relay.storage.schema import INDEXED_TYPES
from schemas.envelope import COLUMNS, Event
from schemas.relay import LedgerEvent, LedgerEventOnce, StoreSyncStatus

_ENVELOPE = ", ".join(COLUMNS)
# A ledger entry's columns: its metadata, then the envelope in `Event` field order.
_ENTRY = f"ledger_seq, received_at_ms, quarantine, {_ENVELOPE}"
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One event in the relay's ledger: the store's envelope exactly as the store logged it,
    and what the relay knows about it."""

    ledger_seq: int  # the tenant's gapless order, commit order
    received_at_ms: int
    quarantine: str | None  # why this build cannot interpret the body; None: it can
    event: Event


def _entry(r: tuple) -> LedgerEntry:
    return LedgerEntry(r[0], r[1], r[2], Event(*r[3:]))


def _envelope(entry: LedgerEntry) -> tuple:
    """The fields both ledger line forms start with, in their order (`schemas.relay`)."""
    ev = entry.event
    return (entry.ledger_seq, ev.store_id, ev.seq, ev.event_id, ev.lane_id, ev.stream, ev.type,
            ev.schema_version, ev.recorded_at_ms, ev.business_date, ev.prev_hash.hex(),
            ev.hash.hex())


def ledger_event(entry: LedgerEntry) -> LedgerEvent:
    """The HQ wire shape of a ledger entry, for pages and exports alike: hashes as hex, the
    body as base64 of the exact stored bytes and, when interpretable, embedded as JSON."""
    body = entry.event.body
    # An interpretable body is msgspec JSON: embedded as is, it is still the exact bytes.
    return LedgerEvent(*_envelope(entry), b2a_base64(body, newline=False).decode(),
                       entry.received_at_ms, entry.quarantine,
                       msgspec.Raw(body if entry.quarantine is None else b"null"))


def ledger_event_once(entry: LedgerEntry) -> LedgerEventOnce:
    """`ledger_event` with the body carried once: as JSON when interpretable, else base64."""
    body = entry.event.body
    interpretable = entry.quarantine is None
    return LedgerEventOnce(
        *_envelope(entry), None if interpretable else b2a_base64(body, newline=False).decode(),
        entry.received_at_ms, entry.quarantine, msgspec.Raw(body if interpretable else b"null"))


@dataclass(frozen=True, slots=True)
class EncodedEvents:
    """A page of the ledger already in its wire form: each event's `LedgerEvent` JSON, exactly
    as `msgspec.json.encode(ledger_event(entry))` writes it, joined by a separator."""

    data: bytes  # the events' JSON joined by the separator (b"" for none)
    count: int
    last_ledger_seq: int | None  # None when the page is empty
    more: bool  # events follow the page


def page_query(columns: str, tenant_id: str, after_ledger_seq: int, limit: int,
               store_id: str | None) -> tuple[str, list[Any]]:
    """The SELECT of `columns` for one page of the tenant's ledger (or of one store's events
    in it), in ledger order: written once for every backend and every form of the page."""
    sql = f"SELECT {columns} FROM events WHERE tenant_id = ? AND ledger_seq > ?"
    args: list[Any] = [tenant_id, after_ledger_seq]
    if store_id is not None:
        sql += " AND store_id = ?"
        args.append(store_id)
    else:
        # The tenant's ledger is gapless: the page is exactly this range of the
        # (tenant_id, ledger_seq) index. Without the upper bound a planner that
        # underestimates the rows (fresh statistics after a bulk ingest) sorts the whole
        # rest of the ledger for every page.
        sql += " AND ledger_seq <= ?"
        args.append(after_ledger_seq + limit)
    return sql + " ORDER BY tenant_id, ledger_seq LIMIT ?", [*args, limit]


@dataclass(frozen=True, slots=True)
class WrittenEvents:
    """What `Ledger.write_jsonl` wrote."""

    count: int
    last_ledger_seq: int | None  # None when nothing was written
    more: bool  # events follow what was written


class Ledger(Backend):
    def ledger(self, tenant_id: str, after_ledger_seq: int, limit: int,
               store_id: str | None = None) -> list[LedgerEntry]:
        sql, args = page_query(_ENTRY, tenant_id, after_ledger_seq, limit, store_id)
        with self._read() as tx:
            rows = tx.rows(sql, args)
        return [_entry(r) for r in rows]

    def ledger_json(self, tenant_id: str, after_ledger_seq: int, limit: int,
                    store_id: str | None = None, separator: bytes = b",") -> EncodedEvents:
        """Up to `limit` events after `after_ledger_seq` in their wire form (`EncodedEvents`):
        what HQ pages and the JSONL export send. This is the portable way (each entry encoded
        by `ledger_event`); a backend whose database can write the JSON itself overrides it
        with the same bytes (PostgreSQL: `postgres.PostgresStorage.ledger_json`)."""
        entries = self.ledger(tenant_id, after_ledger_seq, limit + 1, store_id)
        page = entries[:limit]
        return EncodedEvents(
            data=separator.join(_encoder.encode(ledger_event(e)) for e in page),
            count=len(page), last_ledger_seq=page[-1].ledger_seq if page else None,
            more=len(entries) > limit)

    def write_jsonl(self, tenant_id: str, after_ledger_seq: int, limit: int,
                    write: Callable[[bytes, int], None],
                    page_events: int = 5_000, body_once: bool = False) -> WrittenEvents:
        """Up to `limit` of the tenant's events after `after_ledger_seq` as JSONL (each
        `ledger_json` line and a newline; with `body_once`, each `ledger_event_once` line)
        through `write(lines, events)`, a call per `page_events` events or fewer.
        Portable: page by page (each page one snapshot, as HQ's pull reads them); PostgreSQL
        streams them in one statement instead (`postgres.PostgresStorage.write_jsonl`)."""
        count, last, more = 0, after_ledger_seq, True
        while count < limit and more:
            n = min(page_events, limit - count)
            if body_once:
                entries = self.ledger(tenant_id, last, n + 1)
                lines = [_encoder.encode(ledger_event_once(e)) for e in entries[:n]]
                page = EncodedEvents(b"\n".join(lines), len(lines),
                                     entries[len(lines) - 1].ledger_seq if lines else None,
                                     len(entries) > n)
            else:
                page = self.ledger_json(tenant_id, last, n, separator=b"\n")
            if page.count:
                write(page.data + b"\n", page.count)
                count += page.count
                assert page.last_ledger_seq is not None
                last = page.last_ledger_seq
            more = page.more
        return WrittenEvents(count, last if count else None, more)

    def ledger_count(self, tenant_id: str, after_ledger_seq: int = 0) -> int:
        with self._read() as tx:
            row = tx.one("SELECT count(*) FROM events WHERE tenant_id = ? AND ledger_seq > ?",
                         (tenant_id, after_ledger_seq))
        return int(row[0]) if row else 0

    def store_events(self, tenant_id: str, store_id: str, after_seq: int = 0,
                     limit: int = 1_000_000) -> list[Event]:
        """One store's envelopes in seq order: its log as the relay holds it (for comparisons
        with the edge's own)."""
        with self._read() as tx:
            rows = tx.rows(f"SELECT {_ENVELOPE} FROM events WHERE tenant_id = ? AND "
                           "store_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                           (tenant_id, store_id, after_seq, limit))
        return [Event(*r) for r in rows]

    def events_of_type(self, tenant_id: str, type_: str, store_id: str | None,
                       business_date: str | None) -> Iterator[LedgerEntry]:
        """Events of one type. Types in `INDEXED_TYPES` are served by their partial index
        (named as a literal so both planners match it); others scan the tenant's events."""
        if type_ in INDEXED_TYPES:
            sql = f"SELECT {_ENTRY} FROM events WHERE tenant_id = ? AND type = '{type_}'"
            args: list[Any] = [tenant_id]
        else:
            sql = f"SELECT {_ENTRY} FROM events WHERE tenant_id = ? AND type = ?"
            args = [tenant_id, type_]
        if store_id is not None:
            sql += " AND store_id = ?"
            args.append(store_id)
        if business_date is not None:
            sql += " AND business_date = ?"
            args.append(business_date)
        with self._read() as tx:
            rows = tx.rows(sql + " ORDER BY store_id, seq", args)
        return (_entry(r) for r in rows)

    def last_of_stream(self, tenant_id: str, store_id: str, stream: str, type_: str,
                       before_seq: int) -> LedgerEntry | None:
        """The store's latest event of `type_` in `stream` before `before_seq`: a backward walk
        of the primary key from `before_seq`, short when the event is close (a payment's
        `payment.created` is a few events before its result). No stream index: that would cost
        every ingested event an index entry for a rare look-up."""
        with self._read() as tx:
            row = tx.one(f"SELECT {_ENTRY} FROM events WHERE tenant_id = ? AND store_id = ? "
                         "AND seq < ? AND stream = ? AND type = ? ORDER BY seq DESC LIMIT 1",
                         (tenant_id, store_id, before_seq, stream, type_))
        return _entry(row) if row is not None else None

    def sales_between(self, tenant_id: str, store_id: str, first_date: str, last_date: str,
                      after_seq: int, before_seq: int) -> list[LedgerEntry]:
        """A store's sales recorded strictly between two of its events (by seq), read through
        the sales index over the business days those two events span."""
        with self._read() as tx:
            rows = tx.rows(
                f"SELECT {_ENTRY} FROM events WHERE tenant_id = ? AND "
                "type = 'sale.completed' AND business_date >= ? AND business_date <= ? AND "
                "store_id = ? AND seq > ? AND seq < ? ORDER BY seq",
                (tenant_id, first_date, last_date, store_id, after_seq, before_seq))
        return [_entry(r) for r in rows]

    def quarantined(self, tenant_id: str, limit: int = 10_000) -> list[LedgerEntry]:
        with self._read() as tx:
            rows = tx.rows(f"SELECT {_ENTRY} FROM events WHERE tenant_id = ? AND "
                           "quarantine IS NOT NULL ORDER BY ledger_seq LIMIT ?",
                           (tenant_id, limit))
        return [_entry(r) for r in rows]

    def clear_quarantine(self, tenant_id: str, store_id: str, seqs: list[int]) -> None:
        """Events this build now interprets (after an upgrade) leave quarantine."""
        with self._write() as tx:
            tx.many("UPDATE events SET quarantine = NULL WHERE tenant_id = ? AND store_id = ? "
                    "AND seq = ?", [(tenant_id, store_id, s) for s in seqs])

    def sync_status(self, tenant_id: str) -> list[StoreSyncStatus]:
        with self._read() as tx:
            latest = tx.one("SELECT last_change_id FROM tenants WHERE tenant_id = ?",
                            (tenant_id,))
            counts = dict(tx.rows(
                "SELECT store_id, count(*) FROM events WHERE tenant_id = ? AND quarantine IS NOT "
                "NULL GROUP BY store_id", (tenant_id,)))
            rows = tx.rows(
                "SELECT store_id, enrolled_at_ms, revoked_at_ms, high_seq, last_hash, "
                "last_seen_ms, reported_head_seq, applied_change_id FROM stores "
                "WHERE tenant_id = ? ORDER BY store_id", (tenant_id,))
        return [
            StoreSyncStatus(
                tenant_id=tenant_id, store_id=r[0], enrolled_at_ms=r[1], revoked=r[2] is not None,
                high_seq=r[3], last_hash_hex=bytes(r[4]).hex(), last_seen_ms=r[5],
                reported_head_seq=r[6],
                lag_events=None if r[6] is None else max(0, r[6] - r[3]),
                applied_catalog_change_id=r[7], latest_change_id=latest[0] if latest else 0,
                quarantined=counts.get(r[0], 0),
            )
            for r in rows
        ]

