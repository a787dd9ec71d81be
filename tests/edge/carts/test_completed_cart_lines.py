"""A completed cart's lines are its order's lines (`order_lines`) plus what only the cart knew
of each (`carts.closed_lines`): its `cart_lines` rows go at the sale. The cart a reader or the
writer loads after the sale, and so `GET /v1/carts/{id}`, must be the cart the old layout
gave: the same lines (a removed line's gap in the line ids, weighed items, line and cart
discounts, a scanned barcode, the price lock) as right before the sale, only closed. A store
written by the old build (completed carts' lines in `cart_lines`, the old indexes) upgrades
in place, loads the same carts and orders, verifies, and goes on selling."""

from __future__ import annotations

from pathlib import Path

from core.clock import ManualClock
from edge import config as config_mod
from edge import demo
from edge.carts import commands as carts
from edge.carts.model import fetch, load
from edge.carts.views import view
from edge.lanes import Principal
from edge.orders import commands as orders
from edge.orders.views import by_id as order_by_id
from edge.store import log_migrations
from edge.store.db import migrate, open_connection
from edge.tender import commands as tender
from schemas import api
from tests.support.store import TestStore, verify

WHO = Principal("demo-tenant", "store-001", "lane-1", "manager", "t")
MILK_EAN = "4006381333931"
NOW = 1_772_445_600_000


def _ring(s: TestStore, *, complete: bool = True) -> tuple[str, api.CartView]:
    """A cart with every kind of line; returns its id and its view just before the sale."""
    P = s.policy

    def fill(tx):
        cart = carts.open_cart(tx, WHO, P)
        cid = cart.cart_id
        carts.add_line(tx, WHO, P, cid, api.AddLine(sku="COFFEE-250G", qty=2))
        carts.add_line(tx, WHO, P, cid, api.AddLine(sku="BREAD-500G"))
        carts.add_line(tx, WHO, P, cid, api.AddLine(barcode=MILK_EAN, qty=3))
        carts.add_line(tx, WHO, P, cid, api.AddLine(sku="BANANA", qty_milli=1234))
        carts.remove_line(tx, WHO, cid, 2)  # line ids 1, 3, 4: no longer 1..n
        carts.change_qty(tx, WHO, cid, 1, api.ChangeQty(qty=3))
        carts.apply_discount(tx, WHO, P, cid, api.ApplyDiscount("percent", 500, line_id=3))
        cart = carts.apply_discount(tx, WHO, P, cid, api.ApplyDiscount("amount", 20))
        due = cart.totals(P.tax_mode).total_minor
        tender.add_tender(tx, WHO, cid, api.AddTender(tender_type="cash", amount_minor=due + 500),
                          P)
        return cid

    cid = s.writer.run_sync(fill)
    before = view(s.reader, load(s.reader, cid), s.policy, s.clock.now_ms())
    if complete:
        s.writer.run_sync(lambda tx: orders.complete(tx, WHO, s.policy, cid))
    return cid, before


def _store(tmp_path: Path) -> TestStore:
    s = TestStore(tmp_path / "s", config_mod.load(None, {}), ManualClock(NOW))
    s.start()
    demo.seed(s)
    return s


def test_a_completed_cart_has_the_lines_it_was_sold_with(tmp_path: Path) -> None:
    s = _store(tmp_path)
    try:
        cid, before = _ring(s)
        after = view(s.reader, load(s.reader, cid), s.policy, s.clock.now_ms())
        assert after.status == "completed" and after.order_id is not None
        assert [ln.line_id for ln in after.lines] == [1, 3, 4]
        assert after.lines == before.lines
        fields = ("subtotal_minor", "discount_minor", "tax_minor", "total_minor",
                  "tendered_minor", "change_due_minor", "discount", "tenders")
        assert all(getattr(after, f) == getattr(before, f) for f in fields)
        # Its rows left cart_lines; the writer's cart is the reader's.
        assert s.reader.execute("SELECT count(*) FROM cart_lines WHERE cart_id = ?",
                                (cid,)).fetchall() == [(0,)]
        assert s.writer.run_sync(lambda tx: fetch(tx, cid)) == load(s.reader, cid)
        # An open cart keeps its lines where they were.
        open_id, open_view = _ring(s, complete=False)
        assert s.reader.execute("SELECT count(*) FROM cart_lines WHERE cart_id = ?",
                                (open_id,)).fetchall() == [(3,)]
        assert view(s.reader, load(s.reader, open_id), s.policy, NOW) == open_view
    finally:
        s.stop()
    assert verify(s.db_path).ok


def _to_old_layout(db: Path, sold_lines: list[tuple]) -> None:
    """The database as the build before this layout left it: completed carts' lines in
    `cart_lines` (the rows as they were at the sale: the old sale projection did not touch
    them), no `closed_lines`, and the old indexes; the migrations not applied."""
    conn = open_connection(db)
    cols = ", ".join(r[1] for r in conn.execute("PRAGMA table_info(cart_lines)"))
    with conn:
        conn.executemany(f"INSERT INTO cart_lines ({cols}) VALUES "
                         f"({','.join('?' * len(sold_lines[0]))})", sold_lines)
        conn.execute("ALTER TABLE carts DROP COLUMN closed_lines")
        conn.execute("UPDATE schema_versions SET version = 2 WHERE component = 'carts'")
        conn.execute("DROP INDEX events_zreport_day")
        conn.execute("CREATE INDEX events_business_day ON events(business_date, type)")
        conn.execute("UPDATE schema_versions SET version = 1 WHERE component = ?",
                     (log_migrations.COMPONENT,))
        conn.execute("DROP INDEX payments_waiting")
        conn.execute("CREATE INDEX payments_state ON payments(state)")
        conn.execute("CREATE INDEX payments_card_ref ON payments(card_terminal_id, "
                     "card_receipt_no)")
        conn.execute("CREATE INDEX orders_business_date ON orders(business_date)")
        conn.execute("PRAGMA user_version = 8")  # the store component's version
    conn.close()


def test_an_old_store_upgrades_in_place_and_verifies(tmp_path: Path) -> None:
    s = _store(tmp_path)
    sold: list[tuple] = []
    views, order_views = {}, {}
    try:
        for _ in range(3):
            cid, _before = _ring(s, complete=False)
            sold += s.reader.execute("SELECT * FROM cart_lines WHERE cart_id = ?",
                                     (cid,)).fetchall()
            order_id = s.writer.run_sync(lambda tx, c=cid: orders.complete(tx, WHO, s.policy, c))
            views[cid] = view(s.reader, load(s.reader, cid), s.policy, NOW)
            order_views[order_id] = order_by_id(s.reader, order_id)
        open_id, open_view = _ring(s, complete=False)
    finally:
        s.stop()
    _to_old_layout(s.db_path, sold)
    conn = open_connection(s.db_path)
    assert conn.execute("SELECT count(*) FROM cart_lines").fetchall() == [(12,)]
    conn.close()

    s = _store(tmp_path)  # the upgrade: the daemon's start migrates
    try:
        names = {r[0] for r in s.reader.execute("SELECT name FROM sqlite_master")}
        assert {"events_zreport_day", "payments_waiting"} <= names
        assert not names & {"events_business_day", "payments_state", "payments_card_ref",
                            "orders_business_date"}
        assert s.reader.execute("SELECT count(*) FROM cart_lines").fetchall() == [(3,)]
        for cid, seen in views.items():
            assert view(s.reader, load(s.reader, cid), s.policy, NOW) == seen
        for order_id, seen in order_views.items():
            assert order_by_id(s.reader, order_id) == seen
        assert view(s.reader, load(s.reader, open_id), s.policy, NOW) == open_view
        # The open cart sells after the upgrade as it would have before.
        s.writer.run_sync(lambda tx: orders.complete(tx, WHO, s.policy, open_id))
        assert view(s.reader, load(s.reader, open_id), s.policy, NOW).lines == open_view.lines
    finally:
        s.stop()
    report = verify(s.db_path)
    assert report.ok, (report.chain, report.mismatched_tables)
