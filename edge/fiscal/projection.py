"""Fiscal read models: the journal (one row per fiscal event: signed or not) and the signers
the store has registered."""

from __future__ import annotations

from edge.store.projector import Registrations, audit_only
from schemas import fiscal as f
from schemas.envelope import Event

PROJECTIONS = Registrations()
TABLES = {"fiscal_journal": "transaction_number", "fiscal_signers": "key_id"}


@PROJECTIONS.on(f.FiscalSignerRegistered)
def _registered(conn, stored: Event, b: f.FiscalSignerRegistered) -> None:
    conn.execute("INSERT INTO fiscal_signers(key_id, algorithm, public_key_b64, serial, kind, "
                 "registered_seq) VALUES (?,?,?,?,?,?) ON CONFLICT(key_id) DO UPDATE SET "
                 "registered_seq = excluded.registered_seq",
                 (b.key_id, b.algorithm, b.public_key_b64, b.serial, b.kind, stored.seq))


@PROJECTIONS.on(f.FiscalSigned)
def _signed(conn, stored: Event, b: f.FiscalSigned) -> None:
    conn.execute(
        "INSERT INTO fiscal_journal(transaction_number, event_seq, event_type, signed, "
        "signature_counter, start_ms, end_ms, key_id, signature_b64, reason, record_seq) "
        "VALUES (?,?,?,1,?,?,?,?,?,NULL,?)",
        (b.transaction_number, b.event_seq, b.event_type, b.signature_counter, b.start_ms,
         b.end_ms, b.key_id, b.signature_b64, stored.seq))


@PROJECTIONS.on(f.FiscalUnsigned)
def _unsigned(conn, stored: Event, b: f.FiscalUnsigned) -> None:
    conn.execute(
        "INSERT INTO fiscal_journal(transaction_number, event_seq, event_type, signed, "
        "signature_counter, start_ms, end_ms, key_id, signature_b64, reason, record_seq) "
        "VALUES (?,?,?,0,NULL,?,?,NULL,NULL,?,?)",
        (b.transaction_number, b.event_seq, b.event_type, b.start_ms, b.end_ms, b.reason,
         stored.seq))


PROJECTIONS.on(f.ReceiptReprinted)(audit_only)
