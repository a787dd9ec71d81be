"""HTTP contracts of the cloud relay's HQ API and its operator tools (`novapos-relay`).

Store-facing contracts (batches, acks, refusals, watermarks, change sets) are in `schemas.sync`.
Here: the ledger page, sync status, reconciliation, price variances, quarantine listing,
follow-ups and the HQ publish request. Hashes are hex; event bodies are base64 of the exact stored
bytes (what the chain hash covers) and, when the relay could interpret them, also embedded as
JSON.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from schemas.catalog import CatalogDocument
from schemas.sync import ConfigSet, LaneTokenRevoked
from schemas.zreport import ZReport

MAX_LEDGER_PAGE = 5_000


class _LedgerEnvelope(msgspec.Struct, frozen=True):
    """The fields every ledger line starts with, in this order (the wire order)."""

    ledger_seq: int  # the tenant's global order; pages follow it
    store_id: str
    seq: int  # the store's own gapless sequence
    event_id: str
    lane_id: str | None
    stream: str
    type: str
    schema_version: int
    recorded_at_ms: int
    business_date: str
    prev_hash_hex: str
    hash_hex: str


class LedgerEvent(_LedgerEnvelope, frozen=True):
    body_b64: str
    received_at_ms: int
    quarantine: str | None = None  # why the relay could not interpret the body
    # The body as JSON when it is interpretable, else the JSON `null`. (A plain Raw: msgspec
    # does not decode `Raw | None` from a non-null value, and HQ clients decode pages with it.)
    body: msgspec.Raw = msgspec.Raw(b"null")


class LedgerEventOnce(_LedgerEnvelope, frozen=True):
    """A `LedgerEvent` carrying its body once (`novapos-relay export --body once`): as JSON
    when interpretable (`body`, the exact stored bytes, with `body_b64` null), else as base64
    (`body_b64`, with `body` null). Same fields, same order; about half the bytes."""

    body_b64: str | None  # only when the body is quarantined
    received_at_ms: int
    quarantine: str | None = None
    # When interpretable (body_b64 null): the exact stored bytes, decoded as they are (a Raw,
    # never None, even for a body that is JSON `null`); else the JSON `null`.
    body: msgspec.Raw = msgspec.Raw(b"null")


class LedgerPage(msgspec.Struct, frozen=True):
    tenant_id: str
    relay_epoch: str
    events: list[LedgerEvent]
    next_cursor: str  # pass as `after`; opaque, names the relay epoch
    more: bool


class StoreSyncStatus(msgspec.Struct, frozen=True):
    tenant_id: str
    store_id: str
    enrolled_at_ms: int
    revoked: bool
    high_seq: int  # relay's high watermark for the store
    last_hash_hex: str
    last_seen_ms: int | None
    reported_head_seq: int | None  # the store's own log head, as last reported
    lag_events: int | None  # reported head − high watermark
    applied_catalog_change_id: int
    latest_change_id: int  # newest down-sync change for the tenant
    quarantined: int


class SyncStatus(msgspec.Struct, frozen=True):
    relay_epoch: str
    stores: list[StoreSyncStatus]


class Reconciliation(msgspec.Struct, frozen=True):
    tenant_id: str
    relay_epoch: str
    reports: list[ZReport]  # one per store per business day, ordered by (store, day)


class PriceVariance(msgspec.Struct, frozen=True):
    """A sale line charged at a price version HQ had already superseded at the time of sale."""

    store_id: str
    business_date: str
    order_id: str
    receipt_number: str
    completed_at_ms: int
    line_no: int
    sku: str
    qty_milli: int
    price_version: int
    unit_price_minor: int
    hq_price_version: int
    hq_unit_price_minor: int
    sold_under_lock: bool


class PriceVariances(msgspec.Struct, frozen=True):
    tenant_id: str
    variances: list[PriceVariance]


class QuarantinedEvent(msgspec.Struct, frozen=True):
    ledger_seq: int
    store_id: str
    seq: int
    event_id: str
    type: str
    schema_version: int
    reason: str


class QuarantineList(msgspec.Struct, frozen=True):
    tenant_id: str
    events: list[QuarantinedEvent]


class FollowUpCard(msgspec.Struct, frozen=True):
    """What the terminal said about the stored card payment: masked, never a PAN or token."""

    terminal_id: str
    trace_no: int
    receipt_no: int
    approval_code: str | None
    masked_pan: str | None
    card_brand: str | None


class FollowUp(msgspec.Struct, frozen=True):
    """A payment the store took and the money never came (`payment.forward_declined`)."""

    kind: str  # the event type: "payment.forward_declined"
    store_id: str
    business_date: str  # of the decline
    recorded_at_ms: int
    ledger_seq: int
    seq: int
    payment_id: str
    amount_minor: int
    reason: str
    stored_business_date: str | None  # when the card was taken offline
    # The sale that counted the payment (completed while it was stored); None when none did.
    order_id: str | None
    receipt_number: str | None
    currency: str | None
    card: FollowUpCard | None


class FollowUps(msgspec.Struct, frozen=True):
    tenant_id: str
    follow_ups: list[FollowUp]  # by store, then the store's log order


class PublishChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """HQ → stores. A catalog part is the same document the edge imports (validated the same
    way, against what HQ has published before); all of it is published or none."""

    catalog: CatalogDocument | None = None
    config: list[ConfigSet] = []
    lane_revocations: list[LaneTokenRevoked] = []


class PublishResult(msgspec.Struct, frozen=True):
    tenant_id: str
    changes: int
    first_change_id: int | None
    last_change_id: int | None


class StoreEnrollment(msgspec.Struct, frozen=True, forbid_unknown_fields=True,
                      omit_defaults=True):
    """What `novapos-relay stores enroll` hands a store: its credential
    (`core.signing.StoreCredential`'s fields) and, when HQ registered one, the public key
    its promotion bundles are signed with; `novapos-edge sync enroll` installs the first and
    pins the second. Without a key it is byte for byte the credential alone."""

    tenant_id: str
    store_id: str
    key_id: str
    secret_b64: str
    promotions_public_key: str = ""


class HqToken(msgspec.Struct, frozen=True):
    tenant_id: str
    token_id: str
    token: Annotated[str, msgspec.Meta(description="shown once; only its hash is stored")]


class StoreRecord(msgspec.Struct, frozen=True):
    tenant_id: str
    store_id: str
    key_id: str
    enrolled_at_ms: int
    revoked_at_ms: int | None
