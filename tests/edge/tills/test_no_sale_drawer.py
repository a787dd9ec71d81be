"""Against the emulated ESC/POS printer over TCP: a no-sale opens the lane's drawer (after its
commit, once: a replay does not open it again), and a reprint is a signed fiscal event."""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.emulators.escpos_printer import EscposPrinterEmulator
from tests.conftest import new_key
from tests.edge.printing.test_print_live import emu, post, sell, store  # noqa: F401 - fixtures
from tests.support.live_app import LiveApp


def test_a_no_sale_opens_the_drawer_and_a_reprint_is_signed(
    store: Callable[[], LiveApp], emu: EscposPrinterEmulator,  # noqa: F811
) -> None:
    app = store()
    lane, mgr = app.client("lane-1"), app.client("manager-1")
    r = post(lane, "/v1/tills/till-1/open", {"float_count": [{"value_minor": 1000, "pieces": 5}]})
    assert r.status_code == 201, r.text
    key = new_key()
    r = post(mgr, "/v1/tills/till-1/no-sale", {"reason": "change for the bakery"}, key)
    assert r.status_code == 201, r.text
    emu.wait_for(lambda rec: len(rec.pulses) == 1)
    assert post(mgr, "/v1/tills/till-1/no-sale", {"reason": "change for the bakery"},
                key).headers.get("Idempotent-Replayed") == "true"
    time.sleep(0.5)
    assert len(emu.record.pulses) == 1  # the replay did not open it again

    order = sell(app)
    r = post(lane, f"/v1/orders/{order['order_id']}/receipt/print", {})
    assert r.status_code == 202, r.text
    rows = app.service.reader.execute(
        "SELECT j.event_type, j.signed FROM fiscal_journal j ORDER BY transaction_number")
    kinds = [(t, s) for t, s in rows]
    assert ("till.no_sale", 1) in kinds and ("receipt.reprinted", 1) in kinds
