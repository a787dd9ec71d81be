"""Settling a cart over its tenders: when may a sale close, with how much change. Pure.

Rules (docs/tender.md, "Split tender"):
- no tender may be pending (authorizing, voiding, ...): its outcome is unknown;
- non-cash tenders (card, voucher, other) may never exceed the total: only cash over-tenders;
- what the non-cash tenders leave is due in cash, rounded to the store's cash increment;
- cash must cover that cash due; the excess is change, and change never exceeds the cash.
So the money kept = Σ paid − change = total + rounding, with rounding = 0 when no cash is used.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import DomainError
from edge.errors import TenderInsufficient
from edge.payments.cash import round_cash
from edge.payments.machine import PAID_STATES, PENDING_STATES, Payment


class TenderPending(DomainError):
    status, slug, title = 409, "tender-pending", "A tender is still in progress"


class OverTendered(DomainError):
    status, slug, title = 409, "over-tendered", "Only cash may exceed the amount due"


@dataclass(frozen=True, slots=True)
class Settlement:
    tendered_minor: int
    change_due_minor: int
    rounding_minor: int
    # What is still to pay: in cash terms when cash is (or will be) used, else exact.
    amount_due_minor: int


def preview(total_minor: int, tenders: list[Payment], increment_minor: int) -> Settlement:
    """The settlement as it stands; never raises (the cart view shows it)."""
    assert total_minor >= 0
    paid = [t for t in tenders if t.state in PAID_STATES]
    noncash = sum(t.captured_minor for t in paid if t.tender_type != "cash")
    cash = sum(t.captured_minor for t in paid if t.tender_type == "cash")
    rest = max(total_minor - noncash, 0)
    if cash == 0:
        return Settlement(noncash, 0, 0, rest)
    cash_due = round_cash(rest, increment_minor)
    return Settlement(noncash + cash, max(cash - cash_due, 0), cash_due - rest,
                      max(cash_due - cash, 0))


def settle(total_minor: int, tenders: list[Payment], increment_minor: int) -> Settlement:
    """The settlement a sale closes with, or the DomainError that says why it cannot."""
    pending = [t.tender_id for t in tenders if t.state in PENDING_STATES]
    if pending:
        raise TenderPending(
            f"tenders {pending} are still in progress; wait for them or remove them")
    noncash = sum(t.captured_minor for t in tenders
                  if t.state in PAID_STATES and t.tender_type != "cash")
    if noncash > total_minor:
        raise OverTendered(
            f"card, voucher and other tenders cover {noncash} of a total of {total_minor}; "
            "only cash may exceed the amount due: remove a tender")
    s = preview(total_minor, tenders, increment_minor)
    if s.amount_due_minor > 0:
        raise TenderInsufficient(
            f"tendered {s.tendered_minor} of {total_minor}; {s.amount_due_minor} still due",
            amount_due_minor=s.amount_due_minor,
        )
    assert s.tendered_minor - s.change_due_minor == total_minor + s.rounding_minor
    return s


def allocate_change(tenders: list[Payment], change_minor: int) -> dict[str, int]:
    """Which cash tender the change came out of: the latest cash tender first. Deterministic,
    so the live projection and a rebuild agree."""
    out: dict[str, int] = {}
    left = change_minor
    for t in sorted(tenders, key=lambda t: t.tender_id, reverse=True):
        if left == 0:
            break
        if t.tender_type == "cash" and t.state in PAID_STATES:
            part = min(left, t.captured_minor)
            out[t.payment_id] = part
            left -= part
    assert left == 0, "change exceeds the cash tendered"
    return out


def max_noncash_minor(total_minor: int, tenders: list[Payment]) -> int:
    """The most a new card/voucher/other tender may be for: the total less the other non-cash
    tenders that are paid or still in progress."""
    taken = sum(t.amount_minor if t.state in PENDING_STATES else t.captured_minor
                for t in tenders
                if t.tender_type != "cash" and (t.state in PAID_STATES or t.state in PENDING_STATES))
    return max(total_minor - taken, 0)
