"""The event envelope: one type for an event from the store's log, through sync batches, to
the relay's ledger.

The fields are exactly what the hash chain covers (`core.chain`): the header fields in this
order, the body bytes, and the links. The body is the msgspec JSON of an `EventBody`
(`schemas.events`), decoded through `schemas.events.decode_body` at any schema version it ever
had. Times are UTC epoch milliseconds; `business_date` is the store-local trading day.
"""

from __future__ import annotations

import msgspec


class Event(msgspec.Struct, frozen=True, array_like=True):
    seq: int  # gapless per store, from 1
    event_id: str  # UUIDv7
    tenant_id: str
    store_id: str
    lane_id: str | None
    stream: str  # e.g. "cart:<id>", "payment:<id>", "device:<id>"
    type: str  # an `EventBody.TYPE`
    schema_version: int
    recorded_at_ms: int
    business_date: str  # YYYY-MM-DD, store-local
    body: bytes
    prev_hash: bytes
    hash: bytes


# Column order of the envelope wherever it is stored as a row (store log, relay ledger).
COLUMNS = tuple(Event.__struct_fields__)
