"""Loyalty rules both the store and HQ run: what a sale earns, what a refund claws back, what a
burn may take offline, tiers, and HQ's ledger of a customer's points.

Pure functions over plain values, property-tested (tests/core/test_loyalty.py).

Invariants:
- Points are integers >= 0 per movement; the sign comes from the movement's kind.
- Earning floors per line; a claw-back is pro rata to the quantity returned, computed on the
  cumulative quantity so that returning a line in parts never takes back more than it earned.
- HQ's balance is the sum of the applied movements (and compensations), whatever the order in
  which stores upload and however often a store retries: a (store, seq) is applied once. It
  goes below zero only with a recorded compensation saying by how much and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

PCT = 100
MS_PER_YEAR = 365 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class EarnRules:
    points_per_unit: int = 1  # points per `unit_minor` spent
    unit_minor: int = 100  # one currency unit (100 cents)
    category_multiplier_pct: Mapping[str, int] = field(default_factory=dict)
    tier_multiplier_pct: Mapping[str, int] = field(default_factory=dict)
    excluded_skus: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class EarnLine:
    line_no: int
    sku: str
    category: str
    total_minor: int


def earn(lines: list[EarnLine], rules: EarnRules, tier: str) -> tuple[dict[int, int], int]:
    """Points per line (lines that earn nothing left out) and the eligible spend."""
    tier_pct = rules.tier_multiplier_pct.get(tier, PCT)
    out: dict[int, int] = {}
    eligible = 0
    for ln in lines:
        if ln.sku in rules.excluded_skus or ln.total_minor <= 0:
            continue
        eligible += ln.total_minor
        cat_pct = rules.category_multiplier_pct.get(ln.category, PCT)
        points = (ln.total_minor * rules.points_per_unit * cat_pct * tier_pct
                  // (rules.unit_minor * PCT * PCT))
        if points > 0:
            out[ln.line_no] = points
    return out, eligible


def clawback(line_points: int, sold_qty_milli: int, refunded_before_milli: int,
             refunding_milli: int) -> int:
    """Points a refund of `refunding_milli` of a line takes back: the line's points pro rata to
    the cumulative quantity refunded (half up), less what earlier refunds took."""
    assert 0 < sold_qty_milli and 0 <= refunded_before_milli
    assert refunded_before_milli + refunding_milli <= sold_qty_milli

    def upto(qty: int) -> int:
        return (2 * line_points * qty + sold_qty_milli) // (2 * sold_qty_milli)

    return upto(refunded_before_milli + refunding_milli) - upto(refunded_before_milli)


def burnable(cached_balance: int, pending_burns: int, customer_cap: int | None,
             store_cap_left: int | None) -> int:
    """What a points tender may take at a store that cannot ask HQ: the cached balance less
    the burns HQ has not counted yet, within the customer's and the store's offline caps."""
    room = cached_balance - pending_burns
    if customer_cap is not None:
        room = min(room, customer_cap - pending_burns)
    if store_cap_left is not None:
        room = min(room, store_cap_left)
    return max(room, 0)


def tier_for(earned_12m: int, thresholds: Mapping[str, int]) -> str:
    """The highest tier whose threshold (points earned over a rolling 12 months) is met."""
    best, best_at = "", -1
    for name, at in thresholds.items():
        if at <= earned_12m and at > best_at:
            best, best_at = name, at
    return best


# --- HQ's ledger ----------------------------------------------------------------------------

OVERDRAWN = "loyalty.points_overdrawn"


@dataclass(frozen=True, slots=True)
class Entry:
    store_id: str | None  # None: HQ's own (a compensation)
    seq: int | None
    type: str
    points: int  # signed effect on the balance
    balance_after: int
    at_ms: int
    detail: str = ""


@dataclass
class Account:
    balance: int = 0
    applied: dict[str, int] = field(default_factory=dict)  # store -> last seq applied
    entries: list[Entry] = field(default_factory=list)


def apply(account: Account, store_id: str, seq: int, kind: str, points: int, at_ms: int,
          sign: int, *, overdraft: str = "debt") -> list[Entry]:
    """Apply one store movement (`sign` * `points`), once: a (store, seq) at or below what
    was applied from that store is a retry or a duplicate and changes nothing. Events of one
    store come in that store's order (the relay keeps a store's log a chained prefix).

    A debit that leaves the balance below zero (two stores burned the same points offline, a
    refund clawed back points already spent) gets a compensation written after it, never an
    edit of what happened: `overdraft = "debt"` records the shortfall (the balance stays
    negative: later earnings pay it back), `"write_off"` credits it (the tenant absorbs it)."""
    assert points >= 0 and sign in (1, -1) and overdraft in ("debt", "write_off")
    if seq <= account.applied.get(store_id, 0):
        return []
    account.applied[store_id] = seq
    before = account.balance
    account.balance += sign * points
    out = [Entry(store_id, seq, kind, sign * points, account.balance, at_ms)]
    if sign < 0 and account.balance < 0:
        shortfall = -account.balance if before >= 0 else points
        credit = shortfall if overdraft == "write_off" else 0
        account.balance += credit
        out.append(Entry(None, None, OVERDRAWN, credit, account.balance, at_ms,
                         f"{shortfall} points overdrawn by store {store_id} seq {seq}"
                         + (": written off" if credit else ": owed")))
    account.entries.extend(out)
    return out


def earned_since(entries: list[Entry], since_ms: int, earned_type: str,
                 clawed_type: str, until_ms: int | None = None) -> int:
    """Points earned (less claw-backs) from `since_ms` on (and before `until_ms`, if given):
    the tier basis."""
    total = 0
    for e in entries:
        if e.at_ms >= since_ms and (until_ms is None or e.at_ms < until_ms) and \
                e.type in (earned_type, clawed_type):
            total += e.points
    return max(total, 0)


def tier_at(entries: list[Entry], now_ms: int, thresholds: Mapping[str, int],
            earned_type: str, clawed_type: str) -> str:
    """The tier a customer has at `now_ms`: a function of the ledger and the moment alone,
    over the rolling 12 months `[now - 1 year, now]`. Time passing with no new movement can
    only lower it (earnings leave the window); so a recompute at `now_ms` must look at every
    customer, not only those with new movements."""
    return tier_for(earned_since(entries, now_ms - MS_PER_YEAR, earned_type, clawed_type,
                                 now_ms + 1), thresholds)
