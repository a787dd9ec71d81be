"""Loyalty writer commands: attach a customer to a cart, earn on a sale, claw back on a
refund, burn as a tender, give burned points back; and the down-sync appliers of HQ's
customers and erasures. Each runs inside the writer; refusals are typed `DomainError`s raised
before anything is appended. The decisions are `core.loyalty`'s.

Idempotency: a sale earns once (`loyalty_earned` is keyed by the order; the command looks
before it appends, and a retried request is replayed by the gate without running it); a
refund claws back once (it runs in the refund's own command); a down-sync change set is made
idempotent by the sync inbox, and an older customer revision is ignored by the projection.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import apsw
import msgspec

from core import loyalty as rules
from core.errors import Conflict, InvalidInput, NotFound
from edge.carts.commands import refresh_promotions
from edge.carts.model import Policy, fetch_for
from edge.payments.machine import PAID_STATES
from edge.lanes import Principal
from edge.loyalty.settings import LoyaltyConfig
from edge.store.writer import Tx
from schemas import loyalty as lo
from schemas.sync import Change
from sync.port import ChangeRejected, StoreTx


class CustomerUnknown(NotFound):
    slug, title = "customer-unknown", "No such customer at this store"


class NotEnoughPoints(Conflict):
    slug, title = "not-enough-points", "The customer cannot burn that many points here"


def _stream(customer_id: str) -> str:
    return f"customer:{customer_id}"


# --- reads the commands and the views share --------------------------------------------------


def customer_row(conn: apsw.Connection, customer_id: str) -> tuple | None:
    rows = conn.execute(
        "SELECT customer_id, tier, hq_balance, hq_seq, pii, e_receipts, marketing, burn_cap, "
        "erased FROM loyalty_customers WHERE customer_id = ?", (customer_id,)).fetchall()
    return rows[0] if rows else None


def pending(conn: apsw.Connection, customer_id: str, hq_seq: int) -> tuple[int, int]:
    """(net points of this store's movements HQ has not counted, of which burns)."""
    net, burns = conn.execute(
        "SELECT COALESCE(SUM(points), 0), COALESCE(SUM(CASE WHEN kind = 'burn' THEN -points "
        "ELSE 0 END), 0) FROM loyalty_movements WHERE customer_id = ? AND seq > ?",
        (customer_id, hq_seq)).fetchall()[0]
    return net, burns


def store_pending_burns(conn: apsw.Connection) -> int:
    return conn.execute(
        "SELECT COALESCE(SUM(-m.points), 0) FROM loyalty_movements m JOIN loyalty_customers c "
        "ON c.customer_id = m.customer_id WHERE m.kind = 'burn' AND m.seq > c.hq_seq"
    ).fetchall()[0][0]


def burnable_points(conn: apsw.Connection, config: LoyaltyConfig, row: tuple) -> int:
    customer_id, _tier, hq_balance, hq_seq, *_rest, burn_cap, erased = row
    if erased:
        return 0
    net, burns = pending(conn, customer_id, hq_seq)
    cap = burn_cap if burn_cap is not None else config.offline_burn_cap_points
    store_cap = config.store_offline_burn_cap_points
    store_left = None if store_cap is None else store_cap - store_pending_burns(conn)
    # The cached balance with every pending movement but the burns, then less the burns.
    return rules.burnable(hq_balance + net + burns, burns, cap, store_left)


def cart_customer(conn: apsw.Connection, cart_id: str) -> str | None:
    rows = conn.execute("SELECT customer_id FROM loyalty_cart_customers WHERE cart_id = ?",
                        (cart_id,)).fetchall()
    return rows[0][0] if rows else None


# --- commands ------------------------------------------------------------------------------


class PointsOnCart(Conflict):
    slug, title = "points-tender-on-cart", "The cart has a points tender of its customer"


def _points_tendered(cart) -> bool:
    return any(p.tender_type == "points" and p.state in PAID_STATES for p in cart.payments)


def attach(tx: Tx, who: Principal, cart_id: str, customer_id: str,
           policy: Policy | None = None) -> None:
    """The customer on the cart; with the cart `policy`, its promotions are evaluated again
    (a rule for the customer's tier applies from now on, one for the previous customer's
    tier no longer does)."""
    cart = fetch_for(tx, cart_id, who, must_be_open=True)  # NotFound / not this lane's / closed
    row = customer_row(tx.conn, customer_id)
    if row is None or row[8]:
        raise CustomerUnknown(f"no customer {customer_id} at this store", field="customer_id")
    current = cart_customer(tx.conn, cart_id)
    if current == customer_id:
        return
    if current is not None and _points_tendered(cart):
        raise PointsOnCart(f"customer {current} paid in points on this cart: void the points "
                           "tender before changing the customer")
    tx.append(lo.CustomerAttached(cart_id=cart_id, customer_id=customer_id),
              stream=f"cart:{cart_id}", lane_id=who.lane_id)
    if policy is not None:
        refresh_promotions(tx, who, policy, cart)


def detach(tx: Tx, who: Principal, cart_id: str, policy: Policy | None = None) -> str | None:
    """The cart anonymous again (the customer it had, None if it had none): it earns nothing,
    and promotions for the customer's segment stop applying. Refused while the customer's
    points pay for part of it."""
    cart = fetch_for(tx, cart_id, who, must_be_open=True)
    current = cart_customer(tx.conn, cart_id)
    if current is None:
        return None
    if _points_tendered(cart):
        raise PointsOnCart(f"customer {current} paid in points on this cart: void the points "
                           "tender before removing the customer")
    tx.append(lo.CustomerDetached(cart_id=cart_id, customer_id=current),
              stream=f"cart:{cart_id}", lane_id=who.lane_id)
    if policy is not None:
        refresh_promotions(tx, who, policy, cart)
    return current


def earn_on_sale(tx: Tx, config: LoyaltyConfig, order_id: str) -> lo.PointsEarned | None:
    """The sale's one earn event, if its cart had a customer. Reward tenders (points) are not
    spend: the eligible amount is what the lines earn on, less what was paid in points."""
    rows = tx.conn.execute("SELECT cart_id, lane_id FROM orders WHERE order_id = ?",
                           (order_id,)).fetchall()
    assert rows, f"earn for an order that is not recorded: {order_id}"
    cart_id, lane_id = rows[0]
    customer_id = cart_customer(tx.conn, cart_id)
    if customer_id is None:
        return None
    if tx.conn.execute("SELECT 1 FROM loyalty_earned WHERE order_id = ?", (order_id,)).fetchall():
        return None  # earned already: never twice
    row = customer_row(tx.conn, customer_id)
    if row is None or row[8]:
        return None  # erased while the cart was open: nobody to credit
    lines = [rules.EarnLine(n, sku, tax_class, total) for n, sku, tax_class, total in tx.conn.execute(
        "SELECT line_no, sku, tax_class, total_minor FROM order_lines WHERE order_id = ? "
        "ORDER BY line_no", (order_id,))]
    points_paid = tx.conn.execute(
        "SELECT COALESCE(SUM(amount_minor), 0) FROM order_tenders WHERE order_id = ? AND "
        "tender_type = 'points'", (order_id,)).fetchall()[0][0]
    if points_paid:  # points paid for part of the sale: that part earns nothing (pro rata)
        total = sum(ln.total_minor for ln in lines) or 1
        lines = [rules.EarnLine(ln.line_no, ln.sku, ln.category,
                                ln.total_minor - points_paid * ln.total_minor // total)
                 for ln in lines]
    per_line, eligible = rules.earn(lines, config.rules(), row[1])
    points = sum(per_line.values())
    if points <= 0:
        return None
    body = lo.PointsEarned(customer_id=customer_id, order_id=order_id, points=points,
                           eligible_minor=eligible, tier=row[1], lines=per_line)
    tx.append(body, stream=_stream(customer_id), lane_id=lane_id)
    return body


@dataclass(frozen=True, slots=True)
class ReturnedLine:
    """A sold line (part) taken back: what a claw-back needs, whoever records the return."""

    line_no: int
    sold_qty_milli: int
    returned_before_milli: int  # by earlier refunds or returns of this line
    qty_milli: int


def claw_back(tx: Tx, order_id: str, refund_id: str, lines: list[ReturnedLine],
              lane_id: str | None) -> int:
    """Take back the points the returned lines earned, pro rata to the quantity (cumulative,
    half up: a line returned in parts never gives back more than it earned); once per
    `refund_id`. The hook for any domain that takes goods back (order refunds here; returns).
    Returns the points clawed back."""
    earned = tx.conn.execute("SELECT customer_id, lines FROM loyalty_earned WHERE order_id = ?",
                             (order_id,)).fetchall()
    if not earned or tx.conn.execute(
            "SELECT 1 FROM loyalty_movements WHERE kind = 'clawback' AND refund_id = ?",
            (refund_id,)).fetchall():  # nothing earned, or clawed already (a resumed refund)
        return 0
    customer_id, lines_json = earned[0]
    line_points = {int(k): v for k, v in json.loads(lines_json).items()}
    total = sum(rules.clawback(line_points[ln.line_no], ln.sold_qty_milli,
                               ln.returned_before_milli, ln.qty_milli)
                for ln in lines if ln.line_no in line_points)
    if total > 0:
        tx.append(lo.PointsClawedBack(customer_id=customer_id, order_id=order_id,
                                      refund_id=refund_id, points=total),
                  stream=_stream(customer_id), lane_id=lane_id)
    return total


def after_refund(tx: Tx, refund_id: str) -> None:
    """An order refund's loyalty side, in the refund's own command: the points its lines
    earned are clawed back, and a points tender it paid back becomes points again."""
    rows = tx.conn.execute("SELECT order_id, lane_id FROM refunds WHERE refund_id = ?",
                           (refund_id,)).fetchall()
    if not rows:
        return
    order_id, lane_id = rows[0]
    lines = [ReturnedLine(*r) for r in tx.conn.execute(
        "SELECT r.line_no, l.qty_milli, COALESCE((SELECT SUM(o.qty_milli) FROM refund_lines o "
        "WHERE o.order_id = r.order_id AND o.line_no = r.line_no AND o.refund_id != ?), 0), "
        "r.qty_milli FROM refund_lines r JOIN order_lines l ON l.order_id = r.order_id AND "
        "l.line_no = r.line_no WHERE r.refund_id = ?", (refund_id, refund_id))]
    claw_back(tx, order_id, refund_id, lines, lane_id)
    for payment_id, amount in tx.conn.execute(
            "SELECT payment_id, amount_minor FROM refund_allocations WHERE refund_id = ? AND "
            "tender_type = 'points'", (refund_id,)).fetchall():
        give_back(tx, payment_id, amount, "refund", lane_id, refund_id)


def segment(conn: apsw.Connection, cart_id: str) -> lo.CustomerSegment | None:
    """Who the cart is for, as promotions may target it: the customer, its tier, whether it
    accepts marketing. None for an anonymous cart or an erased customer."""
    customer_id = cart_customer(conn, cart_id)
    row = customer_row(conn, customer_id) if customer_id is not None else None
    if row is None or row[8]:
        return None
    return lo.CustomerSegment(customer_id=row[0], tier=row[1], marketing=bool(row[6]))


def tier_of(conn: apsw.Connection, cart_id: str) -> str | None:
    """The segment promotions see (`edge.promotions.evaluation.SegmentOf`): the tier of the
    cart's customer; None for an anonymous cart, an erased customer or one without a tier."""
    s = segment(conn, cart_id)
    return s.tier or None if s is not None else None


def give_back(tx: Tx, payment_id: str, amount_minor: int, reason: str, lane_id: str | None,
              refund_id: str | None = None) -> None:
    """Burned points back onto the customer: the points tender voided or refunded."""
    rows = tx.conn.execute("SELECT customer_id, points, amount_minor, returned_points FROM "
                           "loyalty_burns WHERE payment_id = ?", (payment_id,)).fetchall()
    if not rows:
        return
    customer_id, points, paid_minor, returned = rows[0]
    if refund_id is not None and tx.conn.execute(
            "SELECT 1 FROM loyalty_movements WHERE kind = 'return' AND payment_id = ? AND "
            "refund_id = ?", (payment_id, refund_id)).fetchall():
        return  # this refund gave them back already (a resumed refund)
    back = min(points - returned, points * amount_minor // paid_minor)
    if back > 0:
        tx.append(lo.PointsReturned(customer_id=customer_id, payment_id=payment_id,
                                    points=back, reason=reason,  # type: ignore[arg-type]
                                    refund_id=refund_id),
                  stream=_stream(customer_id), lane_id=lane_id)


def burn(tx: Tx, config: LoyaltyConfig, who: Principal, cart_id: str, payment_id: str,
         amount_minor: int) -> None:
    """A points tender: the cart's customer pays `amount_minor` in points, within what may be
    burned here (`core.loyalty.burnable`)."""
    if amount_minor % config.point_value_minor:
        raise InvalidInput(f"a points tender is a multiple of the point value "
                           f"({config.point_value_minor})", field="amount_minor")
    customer_id = cart_customer(tx.conn, cart_id)
    if customer_id is None:
        raise InvalidInput("a points tender needs a customer on the cart (POST "
                           f"/v1/carts/{cart_id}/customer)", field="tender_type")
    row = customer_row(tx.conn, customer_id)
    assert row is not None
    points = amount_minor // config.point_value_minor
    room = burnable_points(tx.conn, config, row)
    if points > room:
        raise NotEnoughPoints(f"{points} points asked, {room} may be burned here now",
                              burnable_points=room)
    tx.append(lo.PointsBurned(customer_id=customer_id, cart_id=cart_id, payment_id=payment_id,
                              points=points, amount_minor=amount_minor),
              stream=_stream(customer_id), lane_id=who.lane_id)


# --- down-sync appliers ----------------------------------------------------------------------


def _decode(change: Change, contract):
    try:
        return msgspec.json.decode(change.payload, type=contract)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ChangeRejected(f"malformed {change.kind} payload: {exc}") from exc


def apply_customers(tx: StoreTx, changes: Sequence[Change]) -> list[str]:
    out = []
    for change in changes:
        c = _decode(change, lo.CustomerChange)
        row = tx.conn.execute("SELECT erased FROM loyalty_customers WHERE customer_id = ?",
                              (c.customer_id,)).fetchall()
        if row and row[0][0]:
            out.append("erased: ignored")
            continue
        tx.conn.execute("INSERT OR REPLACE INTO loyalty_keys(customer_id, wrapped_key) "
                        "VALUES (?, ?)", (c.customer_id, c.wrapped_key))
        tx.append(lo.CustomerCached(  # type: ignore[attr-defined] - the store's own Tx
            customer_id=c.customer_id, revision=c.revision, lookup=c.lookup, pii=c.pii,
            tier=c.tier, balance_points=c.balance_points, hq_seqs=c.hq_seqs,
            consents=c.consents, offline_burn_cap_points=c.offline_burn_cap_points),
            stream=_stream(c.customer_id), lane_id=None)
        out.append(f"cached revision {c.revision}")
    return out


def shred(conn: apsw.Connection, customer_id: str) -> None:
    """Destroy the customer's data key: overwritten, then deleted with secure_delete on, so
    the freed page does not keep it."""
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("UPDATE loyalty_keys SET wrapped_key = zeroblob(length(wrapped_key)) "
                 "WHERE customer_id = ?", (customer_id,))
    conn.execute("DELETE FROM loyalty_keys WHERE customer_id = ?", (customer_id,))


def apply_erasures(tx: StoreTx, changes: Sequence[Change]) -> list[str]:
    out = []
    for change in changes:
        e = _decode(change, lo.ErasureChange)
        shred(tx.conn, e.customer_id)
        tx.append(lo.CustomerErased(  # type: ignore[attr-defined]
            customer_id=e.customer_id, erased_at_ms=e.erased_at_ms),
            stream=_stream(e.customer_id), lane_id=None)
        out.append("erased")
    return out


APPLIERS = {"loyalty.customer": apply_customers, "loyalty.erasure": apply_erasures}
