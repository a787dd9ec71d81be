"""`serve --demo` with no printer configured prints on its own emulated printer: a sale made
against the real daemon process ends up on the demo paper roll."""

from __future__ import annotations

import time
from pathlib import Path

from edge.demo import PAPER_ROLL_FILENAME
from tests.conftest import new_key
from tests.support.daemon import DaemonProcess


def post(client, path, body):
    return client.post(path, json=body, headers={"Idempotency-Key": new_key()})


def test_demo_daemon_prints_receipts_on_its_emulated_printer(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "store").start()
    try:
        c = daemon.client("lane-2")
        cart = post(c, "/v1/carts", {}).json()["cart_id"]
        post(c, f"/v1/carts/{cart}/lines", {"sku": "MILK-1L", "qty": 1})
        post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": 200})
        order = post(c, f"/v1/carts/{cart}/complete", {}).json()
        assert order["receipt_print"]["printer_id"] == "demo-printer"
        roll = tmp_path / "store" / PAPER_ROLL_FILENAME
        deadline = time.monotonic() + 20
        while not (roll.exists() and order["receipt_number"] in roll.read_text()):
            assert time.monotonic() < deadline, daemon.log_tail()
            time.sleep(0.1)
        assert "cut" in roll.read_text()
    finally:
        daemon.stop()
