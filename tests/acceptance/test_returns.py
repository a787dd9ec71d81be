"""Returns and exchanges through a live daemon process (`novapos-edge serve --demo`: real
HTTP, the demo ZVT terminal emulator over real TCP, no relay, so the store is offline):

- a receipted partial return goes back to the card, then the rest to the card's remainder
  and the cash;
- the same line returned from two lanes at once: exactly one wins;
- receiptless returns within the velocity limit are made, the fourth is refused offline;
- an uneven exchange where the customer pays the difference by card;
- money back asked onto another card than the one that paid: refused (`card_not_original`);
- an exchange whose new cart holds a pre-authorized card: the hold books only the difference.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from tests.conftest import new_key
from tests.support.daemon import DaemonProcess
from tests.support.store import verify


def _post(c: httpx.Client, path: str, body: dict) -> httpx.Response:
    return c.post(path, json=body, headers={"Idempotency-Key": new_key()})


def _cart(c: httpx.Client, *lines: tuple[str, int]) -> tuple[str, int]:
    r = _post(c, "/v1/carts", {})
    assert r.status_code == 201, r.text
    cart = r.json()["cart_id"]
    total = 0
    for sku, qty in lines:
        r = _post(c, f"/v1/carts/{cart}/lines", {"sku": sku, "qty": qty})
        assert r.status_code == 201, r.text
        total = r.json()["total_minor"]
    return cart, total


def _tender(c: httpx.Client, cart: str, kind: str, amount: int) -> None:
    r = _post(c, f"/v1/carts/{cart}/tenders", {"tender_type": kind, "amount_minor": amount})
    assert r.status_code == 201, r.text


def _complete(c: httpx.Client, cart: str) -> dict:
    r = _post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    return r.json()


def test_returns_and_exchanges_through_a_live_daemon(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "store").start()
    try:
        with daemon.client() as c, daemon.client("lane-2") as c2:
            # --- partial return to card, then the rest to card remainder and cash -----------
            cart, total = _cart(c, ("COFFEE-250G", 2), ("BREAD-500G", 1))
            assert total == 1247
            _tender(c, cart, "cash", 500)
            _tender(c, cart, "card", total - 500)
            order = _complete(c, cart)
            card = next(t for t in order["tenders"] if t["tender_type"] == "card")
            ref = card["reference"]
            found = c.get("/v1/returns/orders", params={"masked_pan": ref["masked_pan"],
                                                        "approval_code": ref["approval_code"]})
            assert found.status_code == 200, found.text
            assert [o["order_id"] for o in found.json()] == [order["order_id"]]
            r = _post(c, "/v1/returns", {"receipt_number": order["receipt_number"], "lines": [
                {"line_no": 1, "qty": 1, "reason": "changed_mind"}]})
            assert r.status_code == 201, r.text
            assert [(a["tender_type"], a["amount_minor"], a["state"])
                    for a in r.json()["refund"]["allocations"]] == [("card", 499, "refunded")]
            r = _post(c, "/v1/returns", {"order_id": order["order_id"], "lines": [
                {"line_no": 1, "qty": 1, "reason": "changed_mind"},
                {"line_no": 2, "qty": 1, "reason": "defective", "disposition": "to_vendor"}]})
            assert r.status_code == 201, r.text
            assert [(a["tender_type"], a["amount_minor"], a["state"])
                    for a in r.json()["refund"]["allocations"]] == [
                ("card", 747 - 499, "refunded"), ("cash", 500, "refunded")]
            receipt = c.get(f"/v1/returns/{r.json()['return_id']}/receipt").json()
            assert receipt["original_receipt_number"] == order["receipt_number"]
            assert [m["text"] for m in receipt["money"]] == ["REFUND CARD", "REFUND CASH"]
            [left] = c.get("/v1/returns/orders",
                           params={"receipt_number": order["receipt_number"]}).json()
            assert all(ln["returnable_qty_milli"] == 0 for ln in left["lines"])

            # --- the same line from two lanes at once: exactly one wins ---------------------
            cart, total = _cart(c, ("TSHIRT-BLK-M", 1))
            _tender(c, cart, "cash", total)
            order = _complete(c, cart)
            start = threading.Barrier(2)
            answers: list[int] = []

            def lane(client: httpx.Client) -> None:
                start.wait()
                answers.append(_post(client, "/v1/returns", {
                    "receipt_number": order["receipt_number"],
                    "lines": [{"line_no": 1, "qty": 1, "reason": "wrong_size"}]}).status_code)

            threads = [threading.Thread(target=lane, args=(x,)) for x in (c, c2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(answers) == [201, 409]

            # --- receiptless within velocity; the fourth refused offline --------------------
            item = {"sku": "MILK-1L", "qty": 1, "reason": "changed_mind"}
            for _ in range(3):
                r = _post(c, "/v1/returns/receiptless",
                          {"customer": "zoe@example.com", "items": [item]})
                assert r.status_code == 201, r.text
                assert r.json()["store_credit"]["amount_minor"] == 119
            r = _post(c2, "/v1/returns/receiptless",
                      {"customer": "Zoe@Example.com", "items": [item]})
            assert r.status_code == 403, r.text
            assert r.json()["type"].endswith("/manager-approval-required")

            # --- uneven exchange: the customer pays the difference by card ------------------
            cart, total = _cart(c, ("BREAD-500G", 1))
            _tender(c, cart, "cash", total)
            order = _complete(c, cart)
            cart, total = _cart(c, ("COFFEE-250G", 1))
            _tender(c, cart, "card", total - 249)
            r = _post(c, "/v1/exchanges", {"cart_id": cart, "order_id": order["order_id"],
                                           "lines": [{"line_no": 1, "qty": 1,
                                                      "reason": "changed_mind"}]})
            assert r.status_code == 201, r.text
            ex = r.json()
            assert ex["difference_minor"] == 250
            assert sorted((t["tender_type"], t["amount_minor"]) for t in ex["sold"]["tenders"]) \
                == [("card", 250), ("voucher", 249)]
            assert ex["returned"]["exchange_order_id"] == ex["sold"]["order_id"]

            # --- money back onto a card that did not pay: refused ---------------------------
            cart, total = _cart(c, ("COFFEE-250G", 1))
            _tender(c, cart, "card", total)
            order = _complete(c, cart)
            r = _post(c, "/v1/returns", {"order_id": order["order_id"],
                                         "card": {"masked_pan": "5100********9876"},
                                         "lines": [{"line_no": 1, "qty": 1,
                                                    "reason": "changed_mind"}]})
            assert r.status_code == 409, r.text
            assert r.json()["type"].endswith("/card-not-original")

            # --- exchange with a pre-authorized card on the new cart ------------------------
            cart, total = _cart(c, ("COFFEE-250G", 2))
            r = _post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "card",
                                                       "amount_minor": total,
                                                       "capture": "deferred"})
            assert r.status_code == 201, r.text
            r = _post(c, "/v1/exchanges", {"cart_id": cart, "order_id": order["order_id"],
                                           "lines": [{"line_no": 1, "qty": 1,
                                                      "reason": "changed_mind"}]})
            assert r.status_code == 201, r.text
            ex = r.json()
            assert sorted((t["tender_type"], t["amount_minor"]) for t in ex["sold"]["tenders"]) \
                == [("card", total - 499), ("voucher", 499)]
    finally:
        daemon.stop()
    # The log rebuilds to the same read models (`novapos-edge verify`).
    assert verify(tmp_path / "store" / "store.db").ok
