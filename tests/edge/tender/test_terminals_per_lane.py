"""A terminal per lane: each lane's card tenders go to the terminal that lists it, a payment's
later steps (reversal, refund, reconciliation after a lost answer) go to the terminal that
took it whichever lane asks, and a lane without a terminal is refused before anything is
recorded. Money is checked against each emulator's own journal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.emulators.zvt_terminal import ZvtTerminalEmulator
from edge import config as config_mod
from tests.conftest import new_key
from tests.edge.api.helpers import assert_problem, head_seq, open_cart, post
from tests.support.live_app import LiveApp, start_live_app
from tests.support.store import verify

WAIT_S = 30.0


@pytest.fixture
def terminals() -> Iterator[tuple[ZvtTerminalEmulator, ZvtTerminalEmulator]]:
    with ZvtTerminalEmulator(busy_wait_s=0.5) as a, ZvtTerminalEmulator(busy_wait_s=0.5) as b:
        yield a, b


@pytest.fixture
def store(tmp_path: Path, terminals) -> Iterator[LiveApp]:
    a, b = terminals
    data = tmp_path / "store"
    data.mkdir()
    (data / config_mod.CONFIG_FILENAME).write_text(
        "[tender]\nterminal_transaction_timeout_s = 2\nreconcile_interval_s = 0.2\n"
        "[[devices.terminals]]\nid = \"till-1\"\nhost = \"127.0.0.1\"\n"
        f"port = {a.port}\nlanes = [\"lane-1\"]\n"
        "[[devices.terminals]]\nid = \"till-2\"\nhost = \"127.0.0.1\"\n"
        f"port = {b.port}\nlanes = [\"lane-2\"]\n")
    app = start_live_app(data)
    try:
        yield app
    finally:
        app.close()
        report = verify(app.service.db_path)
        assert report.ok, report


def _card_sale(app: LiveApp, lane: str, key: str | None = None) -> dict:
    c = app.client(lane)
    cart = open_cart(c)
    total = post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G"}).json()["total_minor"]
    r = post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "card", "amount_minor": total},
             key)
    deadline = time.monotonic() + WAIT_S
    while r.status_code == 503:  # the answer was lost: retry the same request
        assert time.monotonic() < deadline, "payment never resolved"
        time.sleep(0.3)
        r = post(c, f"/v1/carts/{cart}/tenders",
                 {"tender_type": "card", "amount_minor": total}, key)
    assert r.status_code == 201, r.text
    card = next(t for t in r.json()["tenders"] if t["tender_type"] == "card")
    return {"cart": cart, "total": total, **card}


def test_each_lane_charges_on_its_own_terminal(store: LiveApp, terminals) -> None:
    a, b = terminals
    one, two = _card_sale(store, "lane-1"), _card_sale(store, "lane-2")
    assert a.charged_minor(one["payment_id"]) == one["total"]
    assert b.charged_minor(one["payment_id"]) == 0
    assert b.charged_minor(two["payment_id"]) == two["total"]
    assert a.charged_minor(two["payment_id"]) == 0
    payment = store.client().get(f"/v1/payments/{one['payment_id']}").json()
    assert payment["state"] == "captured"


def test_a_lost_answer_is_reconciled_with_the_terminal_that_took_it(
        store: LiveApp, terminals) -> None:
    a, b = terminals
    b.script("disconnect_after_booking")
    two = _card_sale(store, "lane-2", key=new_key())
    assert b.charged_minor(two["payment_id"]) == two["total"]  # once, on lane-2's terminal
    assert [e.operation for e in b.journal()] == ["sale"]
    assert a.journal() == []  # lane-1's terminal was never asked


def test_a_card_taken_on_one_terminal_is_reversed_there_from_any_lane(
        store: LiveApp, terminals) -> None:
    a, b = terminals
    one = _card_sale(store, "lane-1")
    manager = store.client("manager-1")  # a manager may act on lane-1's cart from their lane
    r = manager.delete(f"/v1/carts/{one['cart']}/tenders/{one['tender_id']}",
                       headers={"Idempotency-Key": new_key()})
    assert r.status_code == 200, r.text
    assert [e.operation for e in a.journal()] == ["sale", "reversal"]
    assert b.journal() == []


def test_a_lane_without_a_terminal_is_refused_and_nothing_is_recorded(store: LiveApp) -> None:
    c = store.client("manager-1")  # no terminal lists manager-1 and there is no default
    cart = open_cart(c)
    total = post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G"}).json()["total_minor"]
    seq = head_seq(store)
    r = post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "card", "amount_minor": total})
    assert_problem(r, 409, "no-payment-terminal")
    assert head_seq(store) == seq
