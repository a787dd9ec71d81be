"""The relay's events table as the shared SQL sees it: the column order of an inserted row,
and the partial indexes by event type that both backends' migrations create."""

from __future__ import annotations

# Column order of an inserted `events` row (the envelope's fields, the ledger's metadata).
EVENT_COLUMNS = (
    "store_id", "seq", "tenant_id", "ledger_seq", "event_id", "lane_id", "stream", "type",
    "schema_version", "recorded_at_ms", "business_date", "body", "prev_hash", "hash",
    "received_at_ms", "quarantine",
)

# Event types with a partial index on (tenant_id, business_date, store_id), by the index name
# both backends' migrations create. A report reading another type needs an index migration too
# (`test_storage_indexes` checks it). Only rows of these (few) types pay for an index entry.
TYPE_INDEXES: dict[str, str] = {
    "sale.completed": "events_sales_day",
    "order.refund_created": "events_refund_created_day",
    "payment.refunded": "events_refunded_day",
    "payment.forward_declined": "events_forward_declined_day",
    "payment.stored": "events_stored_day",
}
INDEXED_TYPES = frozenset(TYPE_INDEXES)
