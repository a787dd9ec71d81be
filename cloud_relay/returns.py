"""HQ's view of returns: every `return.completed` the stores uploaded, with the flags each store
recorded and those only HQ can see across stores:
- `receipt_returned_at_several_stores`: one receipt number named by returns at two or more
  stores;
- `velocity_exceeded_across_stores`: a customer (the same keyed hash: stores of a tenant share
  the key file) above the velocity limit over all stores together, within the window.
Filtered by `flag` (a store's or HQ's) and `store`; quarantined events are left out.
"""

from __future__ import annotations

from collections import defaultdict

from cloud_relay.storage.base import Storage
from schemas.events import decode_body
from schemas.returns import HqReturn, HqReturns, ReturnCompleted

DAY_MS = 86_400_000
# The edge's defaults ([returns] velocity_*): HQ re-checks with the same limits.
VELOCITY_DAYS = 30
VELOCITY_MAX_RETURNS = 3
VELOCITY_MAX_MINOR = 10_000


def _velocity_exceeded(history: list[tuple[int, int]]) -> set[int]:
    """Indexes (into the time-ordered `history` of (recorded_at_ms, amount)) of returns that
    went over either limit counting the window before them, all stores together."""
    over: set[int] = set()
    for i, (at, amount) in enumerate(history):
        window = [a for t, a in history[:i] if t > at - VELOCITY_DAYS * DAY_MS]
        if len(window) + 1 > VELOCITY_MAX_RETURNS or sum(window) + amount > VELOCITY_MAX_MINOR:
            over.add(i)
    return over


def returns(storage: Storage, tenant_id: str, flag: str | None = None,
            store_id: str | None = None) -> HqReturns:
    found: list[tuple[object, ReturnCompleted]] = []
    for entry in storage.events_of_type(tenant_id, ReturnCompleted.TYPE, None, None):
        if entry.quarantine is not None:
            continue
        ev = entry.event
        body = decode_body(ev.type, ev.schema_version, ev.body)
        assert isinstance(body, ReturnCompleted)
        found.append((ev, body))
    stores_of_receipt: dict[str, set[str]] = defaultdict(set)
    by_customer: dict[str, list[int]] = defaultdict(list)
    for i, (ev, b) in enumerate(found):
        if b.receipt_number is not None:
            stores_of_receipt[b.receipt_number].add(ev.store_id)  # type: ignore[attr-defined]
        if b.kind == "receiptless" and b.customer_hash is not None:
            by_customer[b.customer_hash].append(i)
    velocity: set[int] = set()
    for idxs in by_customer.values():
        idxs.sort(key=lambda i: (found[i][0].recorded_at_ms, i))  # type: ignore[attr-defined]
        over = _velocity_exceeded([(found[i][0].recorded_at_ms,  # type: ignore[attr-defined]
                                    found[i][1].amount_minor) for i in idxs])
        velocity.update(idxs[k] for k in over)
    out = []
    for i, (ev, b) in enumerate(found):
        flags = list(b.flags)
        if b.receipt_number is not None and len(stores_of_receipt[b.receipt_number]) > 1:
            flags.append("receipt_returned_at_several_stores")
        if i in velocity:
            flags.append("velocity_exceeded_across_stores")
        if store_id is not None and ev.store_id != store_id:  # type: ignore[attr-defined]
            continue
        if flag is not None and flag not in flags:
            continue
        out.append(HqReturn(
            store_id=ev.store_id, seq=ev.seq, business_date=ev.business_date,  # type: ignore
            recorded_at_ms=ev.recorded_at_ms, return_id=b.return_id,  # type: ignore
            kind=b.kind, order_id=b.order_id, receipt_number=b.receipt_number,
            lane_id=b.lane_id, currency=b.currency, amount_minor=b.amount_minor,
            fee_minor=b.fee_minor, refund_to=b.refund_to,
            store_credit_minor=b.store_credit_minor, exchange_order_id=b.exchange_order_id,
            approved_by_role=b.approved_by_role, flags=flags))
    out.sort(key=lambda r: (r.store_id, r.seq))
    return HqReturns(tenant_id=tenant_id, returns=out)
