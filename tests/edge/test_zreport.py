"""The store's Z report for operators: `GET /v1/reports/z` (manager) and `novapos-edge report z`,
over a real store with split-tender sales and refunds (whole, partial, and on a later day).
Both read the log through the same function HQ's reconciliation runs; here the figures are
checked against what the API said at the till."""

from __future__ import annotations

import json

import msgspec
from typer.testing import CliRunner

from edge.cli import app
from edge.reports.zreport import z_report_for_day
from edge.store.db import open_connection
from schemas.zreport import ZReport
from tests.edge.api.helpers import assert_problem, head_seq, open_cart, post
from tests.support.live_app import LiveApp

DAY_MS = 86_400_000
runner = CliRunner()


def _sale(live: LiveApp, skus: list[str], tenders: list[dict]) -> dict:
    c = live.client()
    cart = open_cart(c)
    for sku in skus:
        assert post(c, f"/v1/carts/{cart}/lines", {"sku": sku}).status_code == 201
    for t in tenders:
        r = post(c, f"/v1/carts/{cart}/tenders", t)
        assert r.status_code == 201, r.text
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    return r.json()


def _refund(live: LiveApp, order: dict, body: dict) -> list[tuple[str, int]]:
    r = post(live.client("manager-1"), f"/v1/orders/{order['order_id']}/refunds", body)
    assert r.status_code == 201, r.text
    assert all(a["state"] == "refunded" for a in r.json()["allocations"])
    return [(a["tender_type"], a["amount_minor"]) for a in r.json()["allocations"]]


def _z(live: LiveApp, day: str | None = None, lane: str = "manager-1"):
    return live.client(lane).get("/v1/reports/z",
                                 params={"business_date": day} if day else None)


def _cli(live: LiveApp, *args: str):
    return runner.invoke(app, ["report", "z", "--data-dir", str(live.service.data_dir), *args])


def test_z_report_of_split_tenders_and_refunds(live: LiveApp) -> None:
    voucher = post(live.client("manager-1"), "/v1/vouchers",
                   {"amount_minor": 1000, "code": "GIFT-ZREPORT-1"})
    assert voucher.status_code == 201, voucher.text
    a = _sale(live, ["COFFEE-250G", "MILK-1L"], [
        {"tender_type": "voucher", "amount_minor": 300, "voucher_code": "GIFT-ZREPORT-1"},
        {"tender_type": "other", "amount_minor": 200, "reference": "CHQ-7"},
        {"tender_type": "cash", "amount_minor": 2000}])
    b = _sale(live, ["BREAD-500G"], [{"tender_type": "cash", "amount_minor": 500}])
    # Partial: the milk line goes back card-voucher-other-cash, so onto the voucher first.
    milk = a["lines"][1]["total_minor"]
    assert _refund(live, a, {"lines": [{"line_no": 2, "qty": 1}]}) == [("voucher", milk)]
    assert _refund(live, b, {}) == [("cash", b["total_minor"])]  # whole
    day = a["business_date"]

    r = _z(live)  # no date: the store's current business day
    assert r.status_code == 200, r.text
    report = msgspec.convert(r.json(), ZReport)
    assert report == msgspec.convert(_z(live, day).json(), ZReport)
    assert (report.store_id, report.business_date, report.currency) == (
        live.service.identity.store_id, day, "EUR")
    assert report.sales_count == 2
    assert report.total_minor == a["total_minor"] + b["total_minor"]
    assert report.change_due_minor == a["change_due_minor"] + b["change_due_minor"]
    assert (report.refunds_count, report.refunds_minor) == (2, milk + b["total_minor"])
    assert (report.forward_declined_count, report.forward_declined_minor) == (0, 0)
    tenders = {t.tender_type: (t.count, t.amount_minor, t.change_minor, t.refunds_count,
                               t.refunded_minor, t.net_minor) for t in report.tenders}
    cash_in = 2000 + 500 - report.change_due_minor
    assert tenders == {
        "cash": (2, 2500, report.change_due_minor, 1, b["total_minor"],
                 cash_in - b["total_minor"]),
        "other": (1, 200, 0, 0, 0, 200),
        "voucher": (1, 300, 0, 1, milk, 300 - milk),
    }
    assert sum(t.net_minor for t in report.tenders) == (
        report.total_minor + report.rounding_minor - report.refunds_minor)

    # The next business day: the rest of sale A goes back (other, then cash last).
    live.clock.advance(DAY_MS)
    rest = _refund(live, a, {})
    assert [k for k, _ in rest] == ["voucher", "other", "cash"][3 - len(rest):]
    later = msgspec.convert(_z(live).json(), ZReport)
    assert later.business_date > day and later.sales_count == 0
    assert later.refunds_minor == sum(amount for _, amount in rest) == a["total_minor"] - milk
    assert sum(t.net_minor for t in later.tenders) == -later.refunds_minor
    # The first day's report is history: a later refund does not change it.
    assert msgspec.convert(_z(live, day).json(), ZReport) == report

    # The CLI reads the same log, with the daemon running.
    conn = open_connection(live.service.db_path, readonly=True)
    try:
        assert z_report_for_day(conn, report.store_id, day) == report
    finally:
        conn.close()
    out = _cli(live, "--date", day, "--json")
    assert out.exit_code == 0, out.output
    assert msgspec.convert(json.loads(out.output), ZReport) == report
    human = _cli(live, "--date", later.business_date)
    assert human.exit_code == 0, human.output
    assert "refunds" in human.output and f"{later.business_date}" in human.output


def test_z_report_needs_a_manager_and_a_real_date(live: LiveApp) -> None:
    _sale(live, ["BREAD-500G"], [{"tender_type": "cash", "amount_minor": 500}])
    seq = head_seq(live)
    assert_problem(_z(live, lane="lane-1"), 403, "forbidden")
    assert _z(live, "yesterday").status_code == 400
    assert_problem(_z(live, "2026-02-30"), 422, "invalid-input")
    assert head_seq(live) == seq  # reading a report writes nothing
    empty = msgspec.convert(_z(live, "2020-01-01").json(), ZReport)
    assert (empty.sales_count, empty.tenders, empty.refunds_count) == (0, [], 0)
    bad = _cli(live, "--date", "2026-13-01")
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
    missing = runner.invoke(app, ["report", "z", "--data-dir",
                                  str(live.service.data_dir / "nowhere")])
    assert missing.exit_code == 3


def test_report_z_refuses_a_config_of_another_store(tmp_path) -> None:
    """The CLI reads the log read-only, without composing a store: it still checks that the
    database is this config's store."""
    from core.clock import ManualClock
    from edge import config as config_mod
    from tests.support.store import TestStore

    data = tmp_path / "store"
    TestStore(data, config_mod.load(data, {}), ManualClock(1_772_445_600_000)).stop()
    ok = runner.invoke(app, ["report", "z", "--date", "2026-03-02", "--data-dir", str(data),
                             "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["sales_count"] == 0
    other = runner.invoke(app, ["report", "z", "--date", "2026-03-02", "--data-dir", str(data)],
                          env={"NOVAPOS_STORE__STORE_ID": "store-002"})
    assert other.exit_code == 4
    assert "belongs to demo-tenant/store-001" in " ".join(other.output.split())
