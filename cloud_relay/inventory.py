"""HQ's side of store inventory and pickup orders.

- Stock: on-hand and reserved per store and SKU, folded with `core.stock` (the function the
  store's own projection uses) from the store's events in the ledger, as of the store's
  synced seq (the relay's high watermark for it), which is answered with it.
- Deliveries and transfers go down by the existing down-sync (`Storage.publish`): a delivery
  is one `inventory.delivery` change for its store; a transfer is an `inventory.transfer`
  change for the sender and an `inventory.delivery` (source "transfer") for the receiver.
- Pickup orders: published as a `pickup.order` change for their store; their state is the
  store's reports on them (the `pickup.*` events it syncs up), `sent` until the first.
"""

from __future__ import annotations

import secrets

import msgspec

from cloud_relay.storage.base import Storage
from cloud_relay.storage.ledger import LedgerEntry
from cloud_relay.storage.publish import NewChange, PublishPlan
from core import stock
from core.errors import Conflict, InvalidInput
from schemas import inventory_api as api
from schemas import pickup as pk
from schemas.events import SaleCompleted, decode_body
from schemas.returns import ReturnCompleted
from schemas.inventory import (
    ReservationEnded,
    StockAdjusted,
    StockCounted,
    StockReceived,
    StockReserved,
    StockTransferredOut,
)

STOCK_TYPES = tuple(t.TYPE for t in (SaleCompleted, ReturnCompleted, StockReceived,
                                     StockAdjusted, StockCounted, StockTransferredOut,
                                     StockReserved, ReservationEnded))
PICKUP_TYPES = tuple(t.TYPE for t in pk.PICKUP_EVENTS)
_encode = msgspec.json.encode
# The state an order is in after its store's latest report of each kind.
_STATE_AFTER = {
    "pickup.order_received": "received", "pickup.accepted": "accepted",
    "pickup.rejected": "rejected", "pickup.item_picked": "picking",
    "pickup.packed": "packed", "pickup.ready": "ready", "pickup.handed_over": "handed_over",
    "pickup.cancelled": "cancelled",
}


def _bodies(entries):
    for e in entries:
        if e.quarantine is None:
            yield e, decode_body(e.event.type, e.event.schema_version, e.event.body)


def stock_levels(storage: Storage, tenant_id: str, store_id: str | None,
                 sku: str | None) -> api.HqStock:
    out = []
    for st in storage.sync_status(tenant_id):
        if store_id is not None and st.store_id != store_id:
            continue
        levels: dict[str, stock.Level] = {}
        for type_ in STOCK_TYPES:
            entries = storage.events_of_type(tenant_id, type_, st.store_id, None)
            stock.fold((b for e, b in _bodies(entries) if e.event.seq <= st.high_seq), levels)
        items = [api.HqStockLevel(sku=k, on_hand_milli=v.on_hand_milli,
                                  reserved_milli=v.reserved_milli)
                 for k, v in sorted(levels.items()) if sku is None or k == sku]
        out.append(api.HqStoreStock(store_id=st.store_id, synced_seq=st.high_seq, items=items))
    return api.HqStock(tenant_id=tenant_id, stores=out)


def _published(storage: Storage, tenant_id: str, ids: tuple[int, int] | None
               ) -> api.PublishedChanges:
    return api.PublishedChanges(tenant_id=tenant_id, first_change_id=ids[0] if ids else None,
                                last_change_id=ids[1] if ids else None)


def publish_delivery(storage: Storage, tenant_id: str, d: api.DeliveryNotice,
                     now_ms: int) -> api.PublishedChanges:
    if d.source == "transfer" and d.from_store_id is None:
        raise InvalidInput("a transfer delivery names from_store_id", field="from_store_id")
    change = NewChange("inventory.delivery", _encode(d), d.store_id)
    return _published(storage, tenant_id, storage.publish(
        tenant_id, lambda _state: PublishPlan(changes=[change]), now_ms))


def publish_transfer(storage: Storage, tenant_id: str, t: api.TransferRequest,
                     now_ms: int) -> api.PublishedChanges:
    if t.from_store_id == t.to_store_id:
        raise InvalidInput("a transfer goes to another store", field="to_store_id")
    arriving = api.DeliveryNotice(delivery_id=t.transfer_id, store_id=t.to_store_id,
                                  lines=t.lines, source="transfer",
                                  from_store_id=t.from_store_id)
    changes = [NewChange("inventory.transfer", _encode(t), t.from_store_id),
               NewChange("inventory.delivery", _encode(arriving), t.to_store_id)]
    return _published(storage, tenant_id, storage.publish(
        tenant_id, lambda _state: PublishPlan(changes=changes), now_ms))


def place_pickup_order(storage: Storage, tenant_id: str, req: api.PlacePickupOrder,
                       now_ms: int) -> api.HqPickupOrder:
    """Publish an order to its store. The same order id again answers the order as it is
    (an idempotent retry) when the request is the same, and 409 when it differs."""
    for _cid, payload, _at in storage.published_pickup_orders(tenant_id, req.store_id):
        known = msgspec.json.decode(payload, type=api.PickupOrderChange)
        if known.order_id == req.order_id:
            same = (known.lines == req.lines and known.prepaid == req.prepaid
                    and req.pickup_code in (None, known.pickup_code))
            if not same:
                raise Conflict(f"pickup order {req.order_id} was placed with other contents")
            return _order_states(storage, tenant_id, req.store_id, req.order_id)[0]
    order = api.PickupOrderChange(
        order_id=req.order_id, store_id=req.store_id,
        pickup_code=req.pickup_code or f"{secrets.randbelow(10**6):06d}", lines=req.lines,
        prepaid=req.prepaid, customer_ref=req.customer_ref, placed_at_ms=now_ms)
    storage.publish(tenant_id, lambda _state: PublishPlan(
        changes=[NewChange("pickup.order", _encode(order), req.store_id)]), now_ms)
    return _order_states(storage, tenant_id, req.store_id, req.order_id)[0]


def _order_states(storage: Storage, tenant_id: str, store_id: str | None,
                  only: str | None = None) -> list[api.HqPickupOrder]:
    placed: dict[tuple[str, str], api.PickupOrderChange] = {}
    for _cid, payload, _at in storage.published_pickup_orders(tenant_id, store_id):
        o = msgspec.json.decode(payload, type=api.PickupOrderChange)
        if only is None or o.order_id == only:
            placed[(o.store_id, o.order_id)] = o
    reports: dict[tuple[str, str], list[tuple[LedgerEntry, object]]] = {}
    stores = {k[0] for k in placed}
    for type_ in PICKUP_TYPES:
        for s in sorted(stores):
            for e, b in _bodies(storage.events_of_type(tenant_id, type_, s, None)):
                oid = b.order.order_id if isinstance(b, pk.PickupOrderReceived) else b.order_id
                if (s, oid) in placed:
                    reports.setdefault((s, oid), []).append((e, b))
    out = []
    for key, o in placed.items():
        state, short, substituted, rejected, reason, seq = "sent", False, False, [], None, 0
        for e, b in sorted(reports.get(key, []), key=lambda eb: eb[0].event.seq):
            seq = e.event.seq
            state = _STATE_AFTER.get(e.event.type, state)
            short = short or isinstance(b, pk.PickupFlaggedShort)
            substituted = substituted or (isinstance(b, pk.PickupItemPicked)
                                          and b.substitute_for is not None)
            if isinstance(b, pk.PickupRejected):
                rejected = [s.sku for s in b.short]
            if isinstance(b, pk.PickupCancelled):
                reason = b.reason
        out.append(api.HqPickupOrder(
            order_id=o.order_id, store_id=o.store_id, state=state,  # type: ignore[arg-type]
            prepaid=o.prepaid, pickup_code=o.pickup_code, lines=list(o.lines),
            placed_at_ms=o.placed_at_ms, short=short, substituted=substituted,
            rejected_lines=rejected, cancel_reason=reason, as_of_seq=seq))
    return out


def pickup_orders(storage: Storage, tenant_id: str, store_id: str | None,
                  state: str | None) -> api.HqPickupOrders:
    found = _order_states(storage, tenant_id, store_id)
    return api.HqPickupOrders(tenant_id=tenant_id, orders=[
        o for o in found if state is None or o.state == state])
