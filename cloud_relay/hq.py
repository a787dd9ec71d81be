"""HQ's read side: ledger pages, sync status, reconciliation (Z reports), price variances,
follow-ups (offline card payments declined after forwarding) and the quarantine list. Every
function is scoped to one tenant (the HQ token's).

Reconciliation runs `schemas.zreport.z_report`, the same function the edge runs over its own
log (`edge.reports.zreport`), on the relay's copy of the day's events: equal inputs give equal reports.
Quarantined events (bodies this build cannot interpret) are left out of reports and listed by
`quarantine` instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import msgspec

from cloud_relay import cursor
from cloud_relay.storage.base import Storage
from cloud_relay.storage.ledger import EncodedEvents, LedgerEntry, ledger_event
from core.price_lock import PricePoint, current_price
from core.zreport import ZREPORT_TYPES, DayEvent, z_report
from schemas.envelope import Event
from schemas.events import (
    EventBody,
    PaymentCreated,
    PaymentForwardDeclined,
    PaymentStored,
    SaleCompleted,
    decode_body,
)
from schemas.relay import (
    FollowUp,
    FollowUpCard,
    FollowUps,
    LedgerPage,
    PriceVariance,
    PriceVariances,
    QuarantinedEvent,
    QuarantineList,
    Reconciliation,
    SyncStatus,
)


_json = msgspec.json.Encoder()


def ledger_page(storage: Storage, tenant_id: str, after: str | None, limit: int,
                store_id: str | None = None) -> LedgerPage:
    after_seq = cursor.decode(after, storage.epoch)
    entries = storage.ledger(tenant_id, after_seq, limit + 1, store_id)
    page = entries[:limit]
    last = page[-1].ledger_seq if page else after_seq
    return LedgerPage(tenant_id=tenant_id, relay_epoch=storage.epoch,
                      events=[ledger_event(e) for e in page],
                      next_cursor=cursor.encode(storage.epoch, last), more=len(entries) > limit)


def encoded_events(storage: Storage, tenant_id: str, after: str | None, limit: int,
                   store_id: str | None = None,
                   separator: bytes = b",") -> tuple[EncodedEvents, str]:
    """The page `ledger_page` holds, its events already encoded (`Storage.ledger_json`), and
    the cursor after it: for the JSON page and the JSONL export, which only join bytes."""
    after_seq = cursor.decode(after, storage.epoch)
    events = storage.ledger_json(tenant_id, after_seq, limit, store_id, separator)
    last = events.last_ledger_seq if events.last_ledger_seq is not None else after_seq
    return events, cursor.encode(storage.epoch, last)


def ledger_page_json(storage: Storage, tenant_id: str, after: str | None, limit: int,
                     store_id: str | None = None) -> bytes:
    """`ledger_page` as JSON: the same bytes `msgspec.json.encode(ledger_page(...))` gives,
    without a Python object per event."""
    events, next_cursor = encoded_events(storage, tenant_id, after, limit, store_id)
    # `LedgerPage`'s fields in order; each part is encoded by msgspec as the struct would be.
    return b"".join((
        b'{"tenant_id":', _json.encode(tenant_id), b',"relay_epoch":', _json.encode(storage.epoch),
        b',"events":[', events.data, b'],"next_cursor":', _json.encode(next_cursor),
        b',"more":', b"true" if events.more else b"false", b"}"))


def sync_status(storage: Storage, tenant_id: str) -> SyncStatus:
    return SyncStatus(relay_epoch=storage.epoch, stores=storage.sync_status(tenant_id))


def _decoded(entry: LedgerEntry) -> EventBody | None:
    """The entry's body as its contract, None when quarantined (not interpretable here)."""
    if entry.quarantine is not None:
        return None
    ev = entry.event
    return decode_body(ev.type, ev.schema_version, ev.body)


def _sales(storage: Storage, tenant_id: str, store_id: str | None,
           business_date: str | None) -> Iterable[tuple[LedgerEntry, SaleCompleted]]:
    for entry in storage.events_of_type(tenant_id, SaleCompleted.TYPE, store_id, business_date):
        body = _decoded(entry)
        if body is not None:
            assert isinstance(body, SaleCompleted)
            yield entry, body


def reconciliation(storage: Storage, tenant_id: str, store_id: str | None,
                   business_date: str | None) -> Reconciliation:
    days: dict[tuple[str, str], list[DayEvent]] = defaultdict(list)
    for type_ in ZREPORT_TYPES:
        for entry in storage.events_of_type(tenant_id, type_, store_id, business_date):
            body = _decoded(entry)
            if body is not None:
                ev = entry.event
                days[(ev.store_id, ev.business_date)].append(DayEvent(ev.business_date, body))
    if store_id is not None and business_date is not None:
        days.setdefault((store_id, business_date), [])  # a quiet day reports zeros
    reports = [z_report(store, day, bodies) for (store, day), bodies in sorted(days.items())]
    return Reconciliation(tenant_id=tenant_id, relay_epoch=storage.epoch, reports=reports)


def price_variances(storage: Storage, tenant_id: str, store_id: str | None,
                    business_date: str | None) -> PriceVariances:
    """Sale lines charged at a price version HQ had superseded by the time of sale (a price
    lock held it, or the store had not yet received the new price). The sale stands; this is
    for HQ to review."""
    history = {sku: [PricePoint(*p) for p in points]
               for sku, points in storage.prices(tenant_id).items()}
    out = []
    for entry, sale in _sales(storage, tenant_id, store_id, business_date):
        for line in sale.lines:
            current = current_price(history.get(line.sku, []), sale.completed_at_ms)
            if current is None or current.version <= line.price_version:
                continue
            out.append(PriceVariance(
                store_id=entry.event.store_id, business_date=sale.business_date,
                order_id=sale.order_id,
                receipt_number=sale.receipt_number, completed_at_ms=sale.completed_at_ms,
                line_no=line.line_no, sku=line.sku, qty_milli=line.qty_milli,
                price_version=line.price_version, unit_price_minor=line.unit_price_minor,
                hq_price_version=current.version, hq_unit_price_minor=current.amount_minor,
                sold_under_lock=line.sold_under_lock,
            ))
    return PriceVariances(tenant_id=tenant_id, variances=out)


def follow_ups(storage: Storage, tenant_id: str, store_id: str | None) -> FollowUps:
    """Stored (offline) card payments whose money never came: `payment.forward_declined`, each
    with what HQ needs to chase it — amount, reason, the masked card (from the payment's
    `payment.stored`) and the order whose sale counted the payment. The order is the sale of the
    payment's cart (`payment.created`) completed between the card being stored and the decline:
    a sale completed after the decline could not have counted a dead payment."""
    declines = [e for e in storage.events_of_type(tenant_id, PaymentForwardDeclined.TYPE,
                                                  store_id, None) if e.quarantine is None]
    stored: dict[tuple[str, str], LedgerEntry] = {}
    if declines:
        for store in sorted({e.event.store_id for e in declines}):
            for e in storage.events_of_type(tenant_id, PaymentStored.TYPE, store, None):
                body = _decoded(e)
                if isinstance(body, PaymentStored):
                    stored[(e.event.store_id, body.payment_id)] = e
    out = []
    for entry in declines:
        body = _decoded(entry)
        assert isinstance(body, PaymentForwardDeclined)
        ev = entry.event
        card = order_id = receipt = currency = stored_day = None
        stored_entry = stored.get((ev.store_id, body.payment_id))
        if stored_entry is not None:
            stored_body = _decoded(stored_entry)
            assert isinstance(stored_body, PaymentStored)
            c = stored_body.card
            card = FollowUpCard(terminal_id=c.terminal_id, trace_no=c.trace_no,
                                receipt_no=c.receipt_no, approval_code=c.approval_code,
                                masked_pan=c.masked_pan, card_brand=c.card_brand)
            stored_day = stored_entry.event.business_date
            sale = _sale_of(storage, tenant_id, body.payment_id, stored_entry.event, ev)
            if sale is not None:
                order_id, receipt, currency = (sale.order_id, sale.receipt_number,
                                               sale.currency)
        out.append(FollowUp(
            kind=ev.type, store_id=ev.store_id, business_date=ev.business_date,
            recorded_at_ms=ev.recorded_at_ms, ledger_seq=entry.ledger_seq, seq=ev.seq,
            payment_id=body.payment_id, amount_minor=body.amount_minor, reason=body.reason,
            stored_business_date=stored_day, order_id=order_id, receipt_number=receipt,
            currency=currency, card=card))
    return FollowUps(tenant_id=tenant_id, follow_ups=out)


def _sale_of(storage: Storage, tenant_id: str, payment_id: str, stored: Event,
             declined: Event) -> SaleCompleted | None:
    created = storage.last_of_stream(tenant_id, stored.store_id, f"payment:{payment_id}",
                                     PaymentCreated.TYPE, stored.seq)
    body = _decoded(created) if created is not None else None
    if not isinstance(body, PaymentCreated):
        return None
    needle = body.cart_id.encode()
    for entry in storage.sales_between(tenant_id, stored.store_id, stored.business_date,
                                       declined.business_date, stored.seq, declined.seq):
        if entry.quarantine is None and needle in entry.event.body:  # cheap test first
            sale = _decoded(entry)
            if isinstance(sale, SaleCompleted) and sale.cart_id == body.cart_id:
                return sale
    return None


def quarantine(storage: Storage, tenant_id: str) -> QuarantineList:
    return QuarantineList(tenant_id=tenant_id, events=[
        QuarantinedEvent(ledger_seq=e.ledger_seq, store_id=e.event.store_id, seq=e.event.seq,
                         event_id=e.event.event_id, type=e.event.type,
                         schema_version=e.event.schema_version, reason=e.quarantine or "")
        for e in storage.quarantined(tenant_id)
    ])


def recheck_quarantine(storage: Storage, tenant_id: str) -> tuple[int, int]:
    """Try every quarantined event again with this build's contracts (after an upgrade that
    teaches the relay a new type); those it can now interpret leave quarantine.
    Returns (released, still quarantined)."""
    released: dict[str, list[int]] = defaultdict(list)
    entries = storage.quarantined(tenant_id, limit=10**9)
    for e in entries:
        ev = e.event
        try:
            decode_body(ev.type, ev.schema_version, ev.body)
        except ValueError:  # msgspec errors are ValueErrors too: still not interpretable
            continue
        released[ev.store_id].append(ev.seq)
    for store_id, seqs in released.items():
        storage.clear_quarantine(tenant_id, store_id, seqs)
    count = sum(len(v) for v in released.values())
    return count, len(entries) - count
