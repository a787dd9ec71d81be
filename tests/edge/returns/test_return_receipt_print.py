"""The return receipt prints on the lane's printer (the emulated ESC/POS printer over TCP):
the original receipt number, the lines with reason and fee, and where the money went."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.emulators.escpos_printer import EscposPrinterEmulator
from tests.edge.api.helpers import open_cart, post
from tests.support.live_app import LiveApp, start_live_app


@pytest.fixture
def emu() -> Iterator[EscposPrinterEmulator]:
    with EscposPrinterEmulator() as e:
        yield e


@pytest.fixture
def live(tmp_path: Path, emu: EscposPrinterEmulator) -> Iterator[LiveApp]:
    data = tmp_path / "store"
    data.mkdir()
    (data / "config.toml").write_text(
        "[printing]\nstatus_poll_s = 0.1\nidle_status_poll_s = 0.5\nretry_initial_s = 0.2\n"
        "retry_max_s = 1.0\n\n[[printing.printers]]\nid = \"front\"\nhost = \"127.0.0.1\"\n"
        f"port = {emu.port}\nlanes = [\"lane-1\"]\nstatus_timeout_s = 1.0\n\n"
        "[returns]\nrestocking_fees = [{ sku = \"COFFEE-250G\", amount_minor = 50 }]\n")
    app = start_live_app(data)
    try:
        yield app
    finally:
        app.close()


def test_a_return_prints_its_receipt(live: LiveApp, emu: EscposPrinterEmulator) -> None:
    c = live.client()
    cart = open_cart(c)
    total = post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G"}).json()["total_minor"]
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": total})
    order = post(c, f"/v1/carts/{cart}/complete", {}).json()
    number = order["receipt_number"]
    first = emu.wait_for(lambda r: len(r.receipts()) == 1)
    # The lane scans the printed receipt's code: it is the receipt number the lookup takes.
    scanned = first.qr_codes[0]
    assert scanned == number
    [found] = c.get("/v1/returns/orders", params={"receipt_number": scanned}).json()
    assert found["order_id"] == order["order_id"]
    r = post(c, "/v1/returns", {"receipt_number": scanned, "lines": [
        {"line_no": 1, "qty": 1, "reason": "changed_mind"}]})
    assert r.status_code == 201, r.text
    rec = emu.wait_for(lambda r: len(r.receipts()) == 2)
    text = rec.receipts()[1]
    assert "RETURN" in text and number in text
    assert "Arabica Ground Coffee 250 g" in text and "changed_mind, back_to_stock" in text
    assert "Restocking fee" in text and "-0.50 EUR" in text
    assert "REFUND CASH" in text and "4.49 EUR" in text
    assert rec.barcodes[-1]["data"] == r.json()["return_id"]
    jobs = live.service.reader.execute(
        "SELECT kind, state FROM print_jobs ORDER BY created_at_ms").fetchall()
    assert [k for k, _ in jobs] == ["receipt", "document"]


def test_an_exchange_prints_the_new_sale_and_its_return_receipt(live: LiveApp,
                                                                emu: EscposPrinterEmulator
                                                                ) -> None:
    c = live.client()
    cart = open_cart(c)
    total = post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"}).json()["total_minor"]
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": total})
    order = post(c, f"/v1/carts/{cart}/complete", {}).json()
    emu.wait_for(lambda r: len(r.receipts()) == 1)
    cart = open_cart(c)
    post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G"})
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 250})
    r = post(c, "/v1/exchanges", {"cart_id": cart, "order_id": order["order_id"],
                                  "lines": [{"line_no": 1, "qty": 1, "reason": "wrong_size"}]})
    assert r.status_code == 201, r.text
    rec = emu.wait_for(lambda r: len(r.receipts()) == 3)
    texts = rec.receipts()[1:]
    ret = next(t for t in texts if "RETURN" in t)
    assert order["receipt_number"] in ret and "wrong_size, back_to_stock" in ret
    assert r.json()["sold"]["receipt_number"] in next(t for t in texts if t is not ret)
    # A receiptless return prints too: store credit and its code.
    r = post(c, "/v1/returns/receiptless", {"customer": "zoe@example.com", "items": [
        {"sku": "MILK-1L", "qty": 1, "reason": "changed_mind"}]})
    assert r.status_code == 201, r.text
    rec = emu.wait_for(lambda r: len(r.receipts()) == 4)
    assert "STORE CREDIT" in rec.receipts()[3]
    assert r.json()["store_credit"]["code"] in rec.receipts()[3]
