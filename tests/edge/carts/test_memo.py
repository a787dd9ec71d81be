"""The writer remembers open carts between commands; a remembered cart must always be the cart
the database holds. Hypothesis drives random commands (good and refused, on several carts,
tenders and voids included, and commands that fail after appending) and after every one the
cart the writer would use is compared with the cart read afresh from the database."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DomainError
from edge import config as config_mod
from edge import demo
from edge.carts import commands as carts
from edge.carts.model import fetch, load
from edge.lanes import Principal
from edge.tender import commands as tender
from schemas import api
from tests.support.store import TestStore

SKUS = ("BREAD-500G", "MILK-1L", "COFFEE-250G")
WHO = Principal("demo-tenant", "store-001", "lane-1", "manager", "t")

ops = st.lists(st.tuples(
    st.sampled_from(["open", "add", "qty", "remove", "discount", "cash", "untender", "void",
                     "fail_after_append", "outside_write"]),
    st.integers(0, 3), st.integers(1, 4)), min_size=1, max_size=40)


class Boom(DomainError):
    pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_a_remembered_cart_is_always_the_stored_cart(program) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config_mod.load(None, {})
        s = TestStore(Path(tmp) / "s", cfg)
        s.start()
        demo.seed(s)
        P = s.policy
        cart_ids: list[str] = []
        try:
            for op, which, n in program:
                cid = cart_ids[which % len(cart_ids)] if cart_ids else None

                def command(tx, op=op, cid=cid, n=n):
                    if op == "open" or cid is None:
                        cart_ids.append(carts.open_cart(tx, WHO, P).cart_id)
                    elif op == "add":
                        carts.add_line(tx, WHO, P, cid, api.AddLine(sku=SKUS[n % 3]))
                    elif op == "qty":
                        carts.change_qty(tx, WHO, cid, n, api.ChangeQty(qty=n))
                    elif op == "remove":
                        carts.remove_line(tx, WHO, cid, n)
                    elif op == "discount":
                        carts.apply_discount(tx, WHO, P, cid, api.ApplyDiscount("percent", 500))
                    elif op == "cash":
                        tender.add_tender(tx, WHO, cid, api.AddTender("cash", 100 * n), P)
                    elif op == "untender":
                        tender.remove_local(tx, WHO, cid, n)
                    elif op == "void":
                        tender.void_cart(tx, WHO, cid, api.VoidCart())
                    elif op == "fail_after_append":
                        carts.add_line(tx, WHO, P, cid, api.AddLine(sku="BREAD-500G"))
                        raise Boom("after the append: the savepoint rolls it back")

                try:
                    s.writer.run_sync(command)
                except DomainError:
                    pass
                if op == "outside_write" and cid is not None:
                    # Another connection (the CLI) changes the database behind the writer.
                    other = __import__("apsw").Connection(str(s.db_path))
                    other.execute("UPDATE carts SET discount_kind='amount', discount_value=1 "
                                  "WHERE cart_id=?", (cid,))
                    other.close()
                for c in cart_ids:
                    seen = s.writer.run_sync(lambda tx, c=c: fetch(tx, c))
                    assert seen == load(s.reader, c), (op, c)
        finally:
            s.stop()
