"""The loyalty service the routes and the sale use: the tenant's key (read from the data
directory), look-ups by keyed hash, the customer 360 view, and the hooks the orders and tender
domains call inside their own commands (earn on a sale, claw back on a refund, burn a points
tender, give points back).

The tenant key file (`[loyalty] key_file`, base64 of 32 bytes, mode 0600) is written through
`core.files` by `import_key`; without it the store still sells, and loyalty answers 409
`loyalty-not-provisioned` (the store's state, not a failure: nothing a retry would mend).
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

import apsw
import msgspec

from core import pii
from core.errors import Conflict, InvalidInput
from core.files import write_atomic
from edge.carts.model import Policy
from edge.lanes import Principal
from edge.loyalty import commands
from edge.loyalty.settings import LoyaltyConfig
from edge.store.writer import Tx
from schemas import loyalty as lo


class NotProvisioned(Conflict):
    slug, title = "loyalty-not-provisioned", "This store has no loyalty key"


def import_key(data_dir: Path, config: LoyaltyConfig, key: bytes) -> Path:
    if len(key) != pii.KEY_BYTES:
        raise InvalidInput(f"a tenant loyalty key is {pii.KEY_BYTES} bytes")
    path = data_dir / config.key_file
    write_atomic(path, base64.b64encode(key) + b"\n", mode=0o600)
    return path


def load_key(data_dir: Path, config: LoyaltyConfig) -> pii.TenantKey | None:
    try:
        raw = (data_dir / config.key_file).read_bytes()
    except FileNotFoundError:
        return None
    try:
        return pii.TenantKey(base64.b64decode(raw.strip(), validate=True))
    except (binascii.Error, ValueError):
        raise NotProvisioned(f"{data_dir / config.key_file} does not hold a tenant loyalty "
                             "key (32 bytes, base64)") from None


class Loyalty:
    def __init__(self, config: LoyaltyConfig, key: pii.TenantKey | None) -> None:
        self.config = config
        self._key = key

    @classmethod
    def from_data_dir(cls, data_dir: Path, config: LoyaltyConfig) -> Loyalty:
        return cls(config, load_key(data_dir, config))

    def provision(self, key: bytes) -> None:
        """The tenant key arrived (down-sync, `edge.loyalty.delivery`): used from now on."""
        self._key = pii.TenantKey(key)

    @property
    def key(self) -> pii.TenantKey:
        if self._key is None:
            raise NotProvisioned("no tenant loyalty key in the data directory: "
                                 "novapos-edge loyalty import-key")
        return self._key

    # --- reads ---------------------------------------------------------------------------

    def find(self, conn: apsw.Connection, req: lo.CustomerLookup) -> str:
        given = [(k, v) for k, v in (("card", req.card), ("phone", req.phone),
                                     ("email", req.email)) if v is not None]
        if len(given) != 1:
            raise InvalidInput("give exactly one of card, phone or email")
        kind, value = given[0]
        rows = conn.execute("SELECT customer_id FROM loyalty_lookup WHERE hash = ?",
                            (self.key.lookup_hash(kind, value),)).fetchall()
        if not rows:
            raise commands.CustomerUnknown(f"no customer with that {kind} at this store")
        return rows[0][0]

    def personal(self, conn: apsw.Connection, customer_id: str, sealed: bytes | None
                 ) -> lo.PersonalData | None:
        if sealed is None:
            return None
        rows = conn.execute("SELECT wrapped_key FROM loyalty_keys WHERE customer_id = ?",
                            (customer_id,)).fetchall()
        if not rows:
            return None  # shredded
        dek = self.key.unwrap(customer_id, rows[0][0])
        return msgspec.json.decode(pii.open_pii(dek, customer_id, sealed), type=lo.PersonalData)

    def view(self, conn: apsw.Connection, customer_id: str) -> lo.CustomerView:
        row = commands.customer_row(conn, customer_id)
        if row is None:
            raise commands.CustomerUnknown(f"no customer {customer_id} at this store")
        _cid, tier, hq_balance, hq_seq, sealed, e_receipts, marketing, _cap, erased = row
        net, _burns = commands.pending(conn, customer_id, hq_seq)
        person = None if erased else self.personal(conn, customer_id, sealed)
        purchases = [lo.Purchase(order_id=o, receipt_number=r, completed_at_ms=t,
                                 total_minor=total, points_earned=p)
                     for o, r, t, total, p in conn.execute(
            "SELECT o.order_id, o.receipt_number, o.completed_at_ms, o.total_minor, "
            "COALESCE(e.points - e.clawed_points, 0) FROM loyalty_cart_customers cc "
            "JOIN orders o ON o.cart_id = cc.cart_id "
            "LEFT JOIN loyalty_earned e ON e.order_id = o.order_id WHERE cc.customer_id = ? "
            "ORDER BY o.completed_at_ms DESC, o.order_id DESC LIMIT ?",
            (customer_id, self.config.last_purchases))]
        return lo.CustomerView(
            customer_id=customer_id, name=person.name if person else None, tier=tier,
            balance_points=hq_balance + net, pending_points=net,
            burnable_points=commands.burnable_points(conn, self.config, row),
            point_value_minor=self.config.point_value_minor,
            consents=lo.Consents(e_receipts=bool(e_receipts), marketing=bool(marketing)),
            last_purchases=purchases, erased=bool(erased))

    # --- hooks other domains call in their own commands -----------------------------------

    def attach(self, tx: Tx, who: Principal, cart_id: str, customer_id: str,
               policy: Policy | None = None) -> None:
        commands.attach(tx, who, cart_id, customer_id, policy)

    def detach(self, tx: Tx, who: Principal, cart_id: str,
               policy: Policy | None = None) -> str | None:
        return commands.detach(tx, who, cart_id, policy)

    def on_sale(self, tx: Tx, order_id: str) -> None:
        commands.earn_on_sale(tx, self.config, order_id)

    def after_refund(self, tx: Tx, refund_id: str) -> None:
        commands.after_refund(tx, refund_id)

    def claw_back(self, tx: Tx, order_id: str, refund_id: str,
                  lines: list[commands.ReturnedLine], lane_id: str | None) -> int:
        """For a returns domain: take back the points of returned lines (once per id)."""
        return commands.claw_back(tx, order_id, refund_id, lines, lane_id)

    def give_back_refunded(self, tx: Tx, payment_id: str, amount_minor: int,
                           lane_id: str | None, refund_id: str) -> None:
        """For a returns domain: a points tender paid back becomes points again."""
        commands.give_back(tx, payment_id, amount_minor, "refund", lane_id, refund_id)

    def segment(self, conn: apsw.Connection, cart_id: str) -> lo.CustomerSegment | None:
        """For promotions: the cart's customer, tier and marketing consent (no personal data)."""
        return commands.segment(conn, cart_id)

    def tier_of(self, conn: apsw.Connection, cart_id: str) -> str | None:
        """The cart policy's `segment_of` (edge.compose binds it): the customer's tier."""
        return commands.tier_of(conn, cart_id)

    def burn(self, tx: Tx, who: Principal, cart_id: str, payment_id: str,
             amount_minor: int) -> None:
        commands.burn(tx, self.config, who, cart_id, payment_id, amount_minor)

    def give_back(self, tx: Tx, payment_id: str, amount_minor: int, lane_id: str | None) -> None:
        commands.give_back(tx, payment_id, amount_minor, "void", lane_id)
