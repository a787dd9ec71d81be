"""HQ's reconciliation equals the store's Z report, through the real path: a live store daemon
(real HTTP, the ZVT terminal emulator over real TCP) takes split-tender sales (cash, voucher,
"other", card) and refunds (whole and partial, one a day later, card refunds on the terminal),
and an offline card payment the processor declines after forwarding; the daemon's own sync
engine ships its log to a real relay (SQLite and PostgreSQL). Then, for every business day,
`GET /v1/reconciliation` at HQ equals `GET /v1/reports/z` at the store field for field, and
`GET /v1/hq/follow-ups` lists the declined payment with its order, amount and masked card."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from drivers.emulators.zvt_terminal import ZvtTerminalEmulator
from edge.store import eventlog
from tests.support.store import verify
from schemas.relay import FollowUps
from schemas.zreport import ZReport
from tests.edge.api.helpers import open_cart, post
from tests.support.live_app import LiveApp, start_live_app
from tests.support.relay import BACKENDS, Relay, skip_without_pg, start_relay
from tests.support.process import wait_until

DAY_MS = 86_400_000
WAIT_S = 60.0
ENV = {"NOVAPOS_SYNC__POLL_INTERVAL_S": "0.05", "NOVAPOS_SYNC__BACKOFF_BASE_S": "0.05",
       "NOVAPOS_SYNC__BACKOFF_CAP_S": "0.2", "NOVAPOS_TENDER__TERMINAL_HOST": "127.0.0.1",
       "NOVAPOS_TENDER__TERMINAL_TRANSACTION_TIMEOUT_S": "5",
       "NOVAPOS_TENDER__RECONCILE_INTERVAL_S": "0.2",
       "NOVAPOS_TENDER__CASH_ROUNDING_MINOR": "5"}  # to 0.05: the report carries the rounding


def _wait(pred, what: str) -> None:
    wait_until(pred, what, WAIT_S, poll_s=0.02)


@pytest.fixture(params=BACKENDS)
def relay(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Relay]:
    skip_without_pg(request.param)
    r = start_relay(request.param, tmp_path / "relay")
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def terminal() -> Iterator[ZvtTerminalEmulator]:
    with ZvtTerminalEmulator(busy_wait_s=0.5) as emu:
        yield emu


@pytest.fixture
def store(relay: Relay, terminal: ZvtTerminalEmulator, tmp_path: Path) -> Iterator[LiveApp]:
    data = tmp_path / "store"
    data.mkdir()
    cred = relay.enroll("demo-tenant", "store-001")
    (data / "sync-credential.json").write_bytes(msgspec.json.encode(cred))
    live = start_live_app(data, env={**ENV, "NOVAPOS_SYNC__RELAY_URL": relay.url,
                                     "NOVAPOS_TENDER__TERMINAL_PORT": str(terminal.port)})
    try:
        yield live
    finally:
        live.close()
    assert verify(data / "store.db").ok


def _sale(c: httpx.Client, skus: list[str], tenders: list[dict]) -> dict:
    cart = open_cart(c)
    total = 0
    for sku in skus:
        total = post(c, f"/v1/carts/{cart}/lines", {"sku": sku}).json()["total_minor"]
    for t in tenders:
        amount = t.get("amount_minor", total)  # no amount: what is left, on this tender
        r = post(c, f"/v1/carts/{cart}/tenders", {**t, "amount_minor": amount})
        assert r.status_code == 201, r.text
        total -= amount
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    return r.json()


def _refund(manager: httpx.Client, order: dict, body: dict) -> list[tuple[str, int]]:
    r = post(manager, f"/v1/orders/{order['order_id']}/refunds", body)
    assert r.status_code == 201, r.text
    assert all(a["state"] == "refunded" for a in r.json()["allocations"]), r.text
    return [(a["tender_type"], a["amount_minor"]) for a in r.json()["allocations"]]


def test_hq_reconciliation_equals_the_stores_z_report(store: LiveApp, relay: Relay,
                                                     terminal: ZvtTerminalEmulator) -> None:
    live, ident = store, store.service.identity
    c, manager = live.client(), live.client("manager-1")
    hq = relay.hq_client(relay.hq_token(ident.tenant_id))
    assert post(manager, "/v1/vouchers", {"amount_minor": 2000, "code": "GIFT-HQ-0001"}
                ).status_code == 201

    # Day 1. An offline card payment the processor will refuse after forwarding.
    terminal.script("offline", forward_decline=True)
    offline = _sale(c, ["BREAD-500G"], [{"tender_type": "card"}])
    assert offline["tenders"][0]["state"] == "stored"
    # Split tenders: voucher + other + cash (with change); cash + card.
    split = _sale(c, ["COFFEE-250G", "MILK-1L"], [
        {"tender_type": "voucher", "amount_minor": 300, "voucher_code": "GIFT-HQ-0001"},
        {"tender_type": "other", "amount_minor": 200, "reference": "CHQ-9"},
        {"tender_type": "cash", "amount_minor": 2000}])
    carded = _sale(c, ["TSHIRT-BLK-M", "BREAD-500G"], [
        {"tender_type": "cash", "amount_minor": 500}, {"tender_type": "card"}])
    card = next(t for t in carded["tenders"] if t["tender_type"] == "card")
    assert card["state"] == "captured"
    # Refunds: the whole split sale; one line of the card sale (back onto the card).
    assert [k for k, _ in _refund(manager, split, {})] == ["voucher", "other", "cash"]
    bread = carded["lines"][1]["total_minor"]
    assert _refund(manager, carded, {"lines": [{"line_no": 2, "qty": 1}]}) == [("card", bread)]
    # End of day: forwarding; the processor declines the stored payment — a follow-up.
    r = post(manager, "/v1/payments/forward", {})
    assert r.status_code == 200 and r.json()["forward_declined"] == 1, r.text
    day1 = split["business_date"]

    # Day 2: the rest of the card sale goes back (card, then cash last), and one more sale.
    live.clock.advance(DAY_MS)
    rest = _refund(manager, carded, {})
    assert [k for k, _ in rest] == ["card", "cash"]
    _sale(c, ["MILK-1L"], [{"tender_type": "cash", "amount_minor": 500}])
    day2 = _z(manager).business_date  # the current business day
    assert day2 > day1
    assert terminal.charged_minor(card["payment_id"]) == 0

    # The daemon's sync engine ships the log; HQ sees the store caught up.
    head = eventlog.head(live.service.reader)[0]  # every event, device ones included
    _wait(lambda: any(s["store_id"] == ident.store_id and s["high_seq"] >= head
                      for s in hq.get("/v1/stores").json()["stores"]), "the log to reach HQ")

    edge = {day: _z(manager, day) for day in (day1, day2)}
    for day, own in edge.items():
        r = hq.get("/v1/reconciliation", params={"store": ident.store_id, "business_date": day})
        assert r.status_code == 200, r.text
        assert msgspec.convert(r.json()["reports"], list[ZReport]) == [own]
    every_day = hq.get("/v1/reconciliation", params={"store": ident.store_id}).json()["reports"]
    assert msgspec.convert(every_day, list[ZReport]) == [edge[day1], edge[day2]]

    one, two = edge[day1], edge[day2]
    assert (one.sales_count, one.refunds_count) == (3, 4)
    # The whole refund gives back what the sale kept: its total and its cash rounding.
    assert split["rounding_minor"] != 0
    assert one.refunds_minor == split["total_minor"] + split["rounding_minor"] + bread
    assert one.rounding_minor == split["rounding_minor"] + carded["rounding_minor"] + (
        offline["rounding_minor"])
    assert (one.forward_declined_count, one.forward_declined_minor) == (1, offline["total_minor"])
    nets = {t.tender_type: t.net_minor for t in one.tenders}
    assert nets["card"] == offline["total_minor"] + card["amount_minor"] - bread
    assert nets["voucher"] == nets["other"] == 0
    assert (two.sales_count, two.refunds_count, two.refunds_minor) == (
        1, 2, sum(a for _, a in rest))
    for report in (one, two):
        assert sum(t.net_minor for t in report.tenders) == (
            report.total_minor + report.rounding_minor - report.refunds_minor)

    # HQ's follow-up: the declined offline card, with its order and masked card.
    r = hq.get("/v1/hq/follow-ups", params={"store": ident.store_id})
    assert r.status_code == 200, r.text
    follow = msgspec.convert(r.json(), FollowUps).follow_ups
    assert len(follow) == 1
    f = follow[0]
    stored = offline["tenders"][0]
    assert (f.kind, f.store_id, f.business_date, f.stored_business_date) == (
        "payment.forward_declined", ident.store_id, day1, day1)
    assert (f.payment_id, f.amount_minor) == (stored["payment_id"], offline["total_minor"])
    assert (f.order_id, f.receipt_number, f.currency) == (
        offline["order_id"], offline["receipt_number"], "EUR")
    assert f.card is not None and f.reason
    ref = stored["reference"]
    assert (f.card.masked_pan, f.card.card_brand, f.card.terminal_id, f.card.receipt_no) == (
        ref["masked_pan"], ref["card_brand"], ref["terminal_id"], ref["receipt_no"])
    assert "card_token" not in r.json()["follow_ups"][0]["card"]
    # Tenant-scoped: another tenant's HQ sees nothing of this store.
    other = relay.hq_client(relay.hq_token("other-tenant"))
    assert other.get("/v1/hq/follow-ups").json()["follow_ups"] == []
    assert other.get("/v1/reconciliation", params={"store": ident.store_id}
                     ).json()["reports"] == []


def _z(manager: httpx.Client, day: str | None = None) -> ZReport:
    r = manager.get("/v1/reports/z", params={"business_date": day} if day else None)
    assert r.status_code == 200, r.text
    return msgspec.convert(r.json(), ZReport)
