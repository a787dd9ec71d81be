"""Fiscal journal contracts: the signature record every fiscally relevant event gets, the
signer's registration (its public key, which the log carries to HQ), signer outages, receipt
reprints, and the stamp a receipt prints.

A `fiscal.signed` record says: transaction `transaction_number` (gap-free over every fiscal
event of the store) is the log event `event_seq`; signer `key_id` gave it signature number
`signature_counter` (gap-free over the signer's signatures) over `signed_bytes(...)`: the
record's own header and the exact bytes the log hashed for that event (`core.chain`). While
the signer is unavailable an event gets a `fiscal.unsigned` record instead (the outage): the
transaction number goes on, the signature counter does not.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from schemas.eventbase import EventBody

ALGORITHM = "Ed25519"
TIME_FORMAT = "unixTime"


class FiscalSignerRegistered(EventBody, frozen=True):
    """A signer this store signs with from now on (its public key goes to HQ with the log)."""

    TYPE: ClassVar[str] = "fiscal.signer_registered"
    key_id: str
    algorithm: str
    public_key_b64: str
    serial: str  # the signing unit's serial (software: derived from the key)
    kind: str  # "software" | a hardware unit's model


class FiscalSigned(EventBody, frozen=True):
    TYPE: ClassVar[str] = "fiscal.signed"
    transaction_number: int
    signature_counter: int
    event_seq: int
    event_type: str
    event_hash_hex: str
    start_ms: int
    end_ms: int
    key_id: str
    algorithm: str
    signature_b64: str


class FiscalUnsigned(EventBody, frozen=True):
    """A signer outage: the event was recorded (the sale completed) but not signed."""

    TYPE: ClassVar[str] = "fiscal.unsigned"
    transaction_number: int
    event_seq: int
    event_type: str
    event_hash_hex: str
    start_ms: int
    end_ms: int
    reason: str


class ReceiptReprinted(EventBody, frozen=True):
    TYPE: ClassVar[str] = "receipt.reprinted"
    order_id: str
    job_id: str
    lane_id: str


FISCAL_EVENTS = (FiscalSignerRegistered, FiscalSigned, FiscalUnsigned, ReceiptReprinted)


class FiscalStamp(msgspec.Struct, frozen=True):
    """What a receipt prints of its signature (or that the signer was unavailable)."""

    transaction_number: int
    start_ms: int
    end_ms: int
    signed: bool
    signature_counter: int | None = None
    algorithm: str | None = None
    key_id: str | None = None
    serial: str | None = None
    signature_b64: str | None = None
    public_key_b64: str | None = None
    outage_reason: str | None = None


_header = msgspec.json.Encoder().encode


def signed_bytes(*, store_id: str, transaction_number: int, signature_counter: int,
                 event_seq: int, event_type: str, start_ms: int, end_ms: int, key_id: str,
                 event_bytes: bytes) -> bytes:
    """The message a signature covers: the record's header as canonical JSON, a newline, then
    the event's hashed bytes (`prev_hash || header || '\\n' || body`)."""
    head = _header(["novapos-fiscal-1", store_id, transaction_number, signature_counter,
                    event_seq, event_type, start_ms, end_ms, key_id])
    return head + b"\n" + event_bytes


class SignerView(msgspec.Struct, frozen=True):
    """The key of the journal's last record (None: it was an outage, or nothing signed yet)
    and every key the store ever registered (the log carries the same to HQ)."""

    current_key_id: str | None
    keys: list[dict[str, str]]
    transactions: int  # the last transaction number
    signatures: int  # the last signature counter
    unsigned: int  # outage records


class JournalEntry(msgspec.Struct, frozen=True):
    transaction_number: int
    event_seq: int
    event_type: str
    signed: bool
    signature_counter: int | None
    start_ms: int
    end_ms: int
    key_id: str | None
    signature_b64: str | None
    reason: str | None
