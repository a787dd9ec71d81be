"""HQ's returns list: the flags only HQ can raise, over the stores' return events."""

from __future__ import annotations

from cloud_relay import returns as hq_returns
from cloud_relay.storage.ledger import LedgerEntry
from schemas.envelope import Event
from schemas.events import encode_body
from schemas.returns import ReturnCompleted, ReturnedLine

DAY_MS = 86_400_000


def _ret(n: int, *, receipt: str | None = None, customer: str | None = None,
         amount: int = 100, flags: tuple[str, ...] = ()) -> ReturnCompleted:
    return ReturnCompleted(
        return_id=f"r{n}", kind="receipted" if receipt else "receiptless", order_id=None,
        receipt_number=receipt, lane_id="lane-1", currency="EUR",
        lines=(ReturnedLine(order_id=None, line_no=None, sku="X", qty_milli=1000,
                            paid_minor=amount, fee_minor=0, amount_minor=amount,
                            reason="changed_mind", disposition="back_to_stock"),),
        fee_minor=0, amount_minor=amount,
        refund_to="original_tenders" if receipt else "store_credit", refund_id=None,
        store_credit_code=None, store_credit_minor=0 if receipt else amount,
        customer_hash=customer, flags=flags, approved_by_role="cashier")


class _Storage:
    def __init__(self, rows: list[tuple[str, int, ReturnCompleted]]) -> None:
        self.entries = [
            LedgerEntry(ledger_seq=i, received_at_ms=at, quarantine=None, event=Event(
                seq=i, event_id=f"e{i}", tenant_id="t", store_id=store, lane_id="lane-1",
                stream="return:x", type=ReturnCompleted.TYPE, schema_version=1,
                recorded_at_ms=at, business_date="2026-03-02", body=encode_body(body),
                prev_hash=b"", hash=b""))
            for i, (store, at, body) in enumerate(rows, start=1)]

    def events_of_type(self, tenant_id, type_, store_id, business_date):
        assert type_ == ReturnCompleted.TYPE
        return iter(self.entries)


def test_a_receipt_returned_at_two_stores_is_flagged_at_both() -> None:
    storage = _Storage([("s1", 1, _ret(1, receipt="s1-0001")),
                        ("s2", 2, _ret(2, receipt="s1-0001")),
                        ("s1", 3, _ret(3, receipt="s1-0002", flags=("high_value",)))])
    out = hq_returns.returns(storage, "t", "receipt_returned_at_several_stores")  # type: ignore
    assert [(r.store_id, r.return_id) for r in out.returns] == [("s1", "r1"), ("s2", "r2")]
    assert [r.return_id for r in hq_returns.returns(storage, "t", "high_value").returns] == [
        "r3"]  # type: ignore[arg-type]


def test_velocity_is_rechecked_across_stores_within_the_window() -> None:
    rows = [("s1", 0, _ret(1, customer="h")), ("s2", DAY_MS, _ret(2, customer="h")),
            ("s3", 2 * DAY_MS, _ret(3, customer="h")), ("s1", 3 * DAY_MS, _ret(4, customer="h")),
            # 40 days later the window has moved on; another customer is not affected.
            ("s2", 40 * DAY_MS, _ret(5, customer="h")), ("s2", 3 * DAY_MS, _ret(6, customer="g"))]
    out = hq_returns.returns(_Storage(rows), "t", "velocity_exceeded_across_stores")  # type: ignore
    assert [r.return_id for r in out.returns] == ["r4"]
    big = [("s1", 0, _ret(1, customer="h", amount=6000)), ("s2", 1, _ret(2, customer="h",
                                                                         amount=4001))]
    out = hq_returns.returns(_Storage(big), "t", "velocity_exceeded_across_stores")  # type: ignore
    assert [r.return_id for r in out.returns] == ["r2"]
