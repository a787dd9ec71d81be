"""A scan on a lane's scanner adds the item to that lane's open cart.

It goes through the same cart command the lane's own `POST /v1/carts/{id}/lines` runs
(`carts.commands.add_line` with the scanned code as barcode), through the one idempotency
protocol (`edge.store.idempotency.Gate.run_in`) keyed by the scan id, inside one writer command:
a scan delivered twice (a replayed event, a retried handler) adds one line. With no open cart
on the lane, the scan opens one, as the first scan of a sale does at a till. An unknown code or
a refused add rolls the whole command back (no empty cart is left behind) and is reported to
the lane as the scan's outcome.
"""

from __future__ import annotations

import msgspec

from core.errors import InvalidInput
from core.idempotency import Replayed
from edge.carts import commands as carts
from edge.carts.model import Policy
from edge.carts.views import view
from edge.lanes import Principal
from edge.store.idempotency import Gate, Mutation, answer
from edge.store.writer import Tx
from schemas import api
from schemas.devices import Scan

KEY_PREFIX = "device-scan:"


def idempotency_key(scan: Scan) -> str:
    return KEY_PREFIX + scan.scan_id


def open_cart_id(conn, lane_id: str) -> str | None:
    rows = conn.execute(
        "SELECT cart_id FROM carts WHERE lane_id = ? AND status = 'open' "
        "ORDER BY opened_at_ms DESC, cart_id DESC LIMIT 1",
        (lane_id,),
    ).fetchall()
    return rows[0][0] if rows else None


def add_scan(tx: Tx, who: Principal, policy: Policy, scan: Scan) -> tuple[str, bool]:
    """(cart id, replayed). Raises the cart command's DomainError when the add is refused."""
    m = Mutation(who=who, key=idempotency_key(scan), method="SCAN",
                 path=f"/devices/{scan.device_id}/scans")

    def effect(tx: Tx):
        try:
            request = msgspec.convert({"barcode": scan.code}, api.AddLine)
        except msgspec.ValidationError as exc:
            raise InvalidInput(f"scanned code is not a valid barcode: {exc}") from exc
        cart_id = open_cart_id(tx.conn, who.lane_id)
        if cart_id is None:
            cart_id = carts.open_cart(tx, who, policy).cart_id
        cart = carts.add_line(tx, who, policy, cart_id, request)
        return answer(201, view(tx, cart, policy, tx.now_ms))

    outcome = Gate.run_in(tx, m, scan.code, effect)
    cart_id = msgspec.json.decode(outcome.response.body, type=api.CartView).cart_id
    return cart_id, isinstance(outcome, Replayed)
