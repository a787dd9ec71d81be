"""The promotion evaluator: cart lines + active rules + context -> applied promotions with
per-line allocations. One pure function (`evaluate`), run by the store on every cart change
and by HQ to simulate a bundle over past baskets: the same code, so a promotion cannot apply
differently online and offline.

How it decides (docs/promotions.md says it for a customer):
1. Candidates: the rules indexed under the cart's SKUs and categories, plus cart-wide rules;
   kept when their coupon was entered, their segment matches, and they are in effect for at
   least one line: now, or when the line was scanned while its price lock holds
   (`held_local`: the lock holds a promotion like it holds a price).
2. A set of rules is applied in order of priority (higher first, then bundle order), each on
   what the earlier ones left (or on the original price, `base="original"`); a unit is claimed
   by at most one quantity rule.
3. The allowed sets: at most one rule per `group`; an `exclusive` rule alone; at most
   `max_promotions_per_cart` rules giving a saving. Among them the one saving the customer
   most wins (ties: fewer promotions, then the smaller rule ids). With up to `EXACT_LIMIT`
   allowed sets every one is tried; beyond, the best rule of each group is kept (by its saving
   alone), the largest savings up to the maximum, and any rule whose removal saves more is
   dropped.

Guarantees (tests/core/promotions): Σ allocations == each promotion's discount; no line's
discount is negative or above its gross; the result does not depend on line order and is the
same when evaluated again; two rules of one group, or an exclusive rule and another, never
both apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import product

from core.pricing import line_gross_minor
from core.promotions import effects
from core.promotions.effects import Off, Units
from core.promotions.rules import ActiveRules, CompiledRule, normalize_code
from schemas import promotions as sp
from schemas.promotions import Effect

EXACT_LIMIT = 256
QTY_KINDS = (sp.FixedPrice, sp.BuyXGetY, sp.MixMatch, sp.MultiBuy)


@dataclass(frozen=True, slots=True)
class CartLine:
    line_id: int
    sku: str
    unit_price_minor: int
    qty_milli: int
    sold_by: str = "each"                  # "weight": one unit, never counted by qty rules
    categories: tuple[str, ...] = ()
    # While the line's price lock holds: when it was scanned. A promotion in effect then
    # still applies to it (a promotion ending is a price change the lock holds).
    held_local: datetime | None = None

    @property
    def gross_minor(self) -> int:
        return line_gross_minor(self.unit_price_minor, self.qty_milli)


@dataclass(frozen=True, slots=True)
class Context:
    store_id: str
    now_local: datetime
    segment: str | None = None
    coupons: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LineAllocation:
    line_id: int
    discount_minor: int


@dataclass(frozen=True, slots=True)
class Applied:
    rule_id: str
    name: str
    kind: str
    coupon_code: str | None
    discount_minor: int
    lines: tuple[LineAllocation, ...]   # by line_id, only lines it gave something to


@dataclass(frozen=True, slots=True)
class Result:
    bundle_version: int | None
    applied: tuple[Applied, ...]        # in the order they were applied
    discount_minor: int
    line_discount: dict[int, int] = field(default_factory=dict)  # line_id -> Σ promotions

    def rules_of_line(self, line_id: int) -> tuple[tuple[str, int], ...]:
        return tuple((a.rule_id, al.discount_minor) for a in self.applied for al in a.lines
                     if al.line_id == line_id)


NOTHING = Result(None, (), 0, {})


# --- the cart as units ------------------------------------------------------------------------


def _units(lines: Sequence[CartLine]) -> Units:
    u = Units([], [], [], [], [])
    for ln in lines:
        if ln.sold_by == "each" and ln.qty_milli % 1000 == 0:
            n, price, countable = ln.qty_milli // 1000, ln.unit_price_minor, True
        else:
            n, price, countable = 1, ln.gross_minor, False
        for _ in range(max(n, 0)):
            u.line.append(ln.line_id)
            u.price.append(price)
            u.left.append(price)
            u.countable.append(countable)
            u.claimed.append(False)
    return u


@dataclass(slots=True)  # not frozen: built for every hit rule of every evaluation
class _Candidate:
    cr: CompiledRule
    idx: list[int]              # eligible target units
    get_idx: list[int] | None   # eligible reward units (buy X get Y of another set, free item)
    key: tuple[int, int]        # application order: priority (higher first), bundle order
    claims: bool                # a quantity rule: it marks the units it uses
    alone: int = 0              # what it gives on the untouched cart (set by `_best`)


def _eligible(cr: CompiledRule, lines: Sequence[CartLine], positions: Sequence[int],
              starts: list[int], counts: list[int], moments: list[datetime | None],
              reward: bool
              ) -> list[int]:
    out: list[int] = []
    in_effect = cr.in_effect
    now_ok = in_effect(moments[-1])  # the common case: no line's scan time is asked
    every = not reward and not cr.skus and not cr.categories
    if now_ok and every and len(positions) == len(lines):
        return list(range(starts[-1] + counts[-1])) if lines else out
    match = cr.get_matches if reward else cr.matches
    for k in positions:
        if not now_ok and (moments[k] is None or not in_effect(moments[k])):
            continue
        ln = lines[k]
        if every or match(ln.sku, ln.categories):
            n = counts[k]
            if n == 1:
                out.append(starts[k])
            elif n:
                out.extend(range(starts[k], starts[k] + n))
    return out


def _candidates(rules: Iterable[tuple[CompiledRule, Sequence[int]]], lines: Sequence[CartLine],
                ctx: Context) -> list[_Candidate]:
    """`rules`: each rule with the positions of the lines it may touch (the index's hits)."""
    starts, counts, at = [], [], 0
    for ln in lines:
        n = ln.qty_milli // 1000 if ln.sold_by == "each" and ln.qty_milli % 1000 == 0 else 1
        starts.append(at)
        counts.append(max(n, 0))
        at += max(n, 0)
    moments: list[datetime | None] = [ln.held_local for ln in lines]
    moments.append(ctx.now_local)
    out = []
    for cr, positions in rules:
        r = cr.rule
        if cr.coupon_code is not None and cr.coupon_code not in ctx.coupons:
            continue
        if r.segments and ctx.segment not in r.segments:
            continue
        idx = _eligible(cr, lines, positions, starts, counts, moments, reward=False)
        if not idx:
            continue
        e = r.effect
        get_idx = None
        if isinstance(e, sp.BuyXGetY) and e.get is not None or \
                isinstance(e, sp.SpendThreshold) and e.free_sku is not None:
            get_idx = _eligible(cr, lines, positions, starts, counts, moments, reward=True)
            if not get_idx:
                continue
        claims = isinstance(e, QTY_KINDS) or isinstance(e, sp.SpendThreshold) and \
            e.free_sku is not None
        out.append(_Candidate(cr, idx, get_idx, (-r.priority, cr.order), claims))
    out.sort(key=lambda c: c.key)
    return out


_GIVES = {
    sp.PercentOff: lambda u, c, e, o: effects.percent_off(u, c.idx, e, o),
    sp.AmountOff: lambda u, c, e, o: effects.amount_off(u, c.idx, e),
    sp.FixedPrice: lambda u, c, e, o: effects.fixed_price(u, c.idx, e),
    sp.BuyXGetY: lambda u, c, e, o: effects.buy_x_get_y(u, c.idx, c.get_idx, e, o),
    sp.MixMatch: lambda u, c, e, o: effects.mix_match(u, c.idx, e),
    sp.MultiBuy: lambda u, c, e, o: effects.multi_buy(u, c.idx, e, o),
    sp.SpendThreshold: lambda u, c, e, o: effects.spend_threshold(u, c.idx, c.get_idx or [],
                                                                  e, o),
}
assert set(_GIVES) == set(Effect.__args__), "every effect kind has its function"  # type: ignore[attr-defined]


def _gives(units: Units, c: _Candidate) -> Off:
    """One rule on `units` (claims are marked in place); the discount per unit."""
    e = c.cr.rule.effect
    return _GIVES[type(e)](units, c, e, c.cr.rule.base == "original")


def _run(base: Units, chosen: Sequence[_Candidate]) -> tuple[int, list[tuple[_Candidate, Off]]]:
    """Apply `chosen` (already in priority order) to a copy of `base`."""
    units = base.copy()
    total, gave = 0, []
    for c in chosen:
        off = _gives(units, c)
        if not off:
            continue
        for i, d in off.items():
            assert 0 < d <= units.left[i], (c.cr.rule_id, i, d, units.left[i])
            units.left[i] -= d
        total += sum(off.values())
        gave.append((c, off))
    return total, gave


def _alone(base: Units, c: _Candidate) -> int:
    # What one rule gives on the untouched cart: no rule ran before it, so only a quantity
    # rule's claims need a private copy (effects never write `left`).
    if not c.claims:
        quick = effects.cart_total(base, c.idx, c.cr.rule.effect, c.cr.rule.base == "original")
        return quick if quick is not None else sum(_gives(base, c).values())
    units = Units(base.line, base.price, base.left, base.countable, base.claimed[:])
    return sum(_gives(units, c).values())


def _score(total: int, gave: list[tuple[_Candidate, Off]]) -> tuple[int, int, tuple[str, ...]]:
    # max() of this: the largest saving, then fewer promotions, then the smaller rule ids.
    ids = tuple(sorted(c.cr.rule_id for c, _ in gave))
    return (total, -len(gave), tuple(_Neg(i) for i in ids))  # type: ignore[return-value]


class _Neg(str):
    """A string that sorts backwards, so max() prefers the smaller id."""

    __slots__ = ()

    def __lt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__lt__(self, other)


def _slots(cands: list[_Candidate]) -> tuple[list[list[_Candidate]], list[_Candidate]]:
    """Stackable rules by group (a rule without a group is a group of one), and the
    exclusive rules (each an alternative on its own)."""
    groups: dict[str, list[_Candidate]] = {}
    exclusive = []
    for c in cands:
        r = c.cr.rule
        if r.exclusive:
            exclusive.append(c)
        else:
            groups.setdefault(r.group if r.group is not None else "\0" + r.rule_id, []).append(c)
    return list(groups.values()), exclusive


def _best(base: Units, cands: list[_Candidate], limit: int
          ) -> tuple[int, list[tuple[_Candidate, Off]]]:
    groups, exclusive = _slots(cands)
    for c in cands:
        c.alone = _alone(base, c)
    cands = [c for c in cands if c.alone > 0]
    groups = [[c for c in g if c.alone > 0] for g in groups]
    groups = [g for g in groups if g]
    exclusive = [c for c in exclusive if c.alone > 0]
    options: list[tuple[int, list[tuple[_Candidate, Off]]]] = [_run(base, [c]) for c in exclusive]
    size = 1
    for g in groups:
        size *= len(g) + 1
        if size > EXACT_LIMIT:
            break
    if size <= EXACT_LIMIT:
        for pick in product(*[[None, *g] for g in groups]):
            chosen = sorted((c for c in pick if c is not None), key=lambda c: c.key)
            if not chosen:
                continue
            total, gave = _run(base, chosen)
            if gave and len(gave) <= limit:
                options.append((total, gave))
    else:
        keep = [g[0] if len(g) == 1 else  # most rules are a group of their own
                max(g, key=lambda c: (c.alone, -c.cr.rule.priority, -c.cr.order))
                for g in groups]
        keep.sort(key=lambda c: (-c.alone, c.key))
        chosen = sorted(keep[:limit], key=lambda c: c.key)
        total, gave = _run(base, chosen)
        improved = True
        while improved and len(chosen) > 1:  # drop a rule that costs others more than it gives
            improved = False
            # Only a rule that claims units, or one before a spend threshold (it lowers the
            # spend), can cost the others more than it gives; no other is worth trying.
            last_threshold = max((k for k, c in enumerate(chosen)
                                  if isinstance(c.cr.rule.effect, sp.SpendThreshold)),
                                 default=-1)
            for k in range(len(chosen)):
                if not (chosen[k].claims or k < last_threshold):
                    continue
                t2, g2 = _run(base, chosen[:k] + chosen[k + 1:])
                if t2 > total:
                    chosen, total, gave, improved = chosen[:k] + chosen[k + 1:], t2, g2, True
                    break
        options.append((total, gave))
    if not options:
        return 0, []
    return max(options, key=lambda o: _score(*o))


def _result(version: int, base: Units, lines: Sequence[CartLine], total: int,
            gave: list[tuple[_Candidate, Off]]) -> Result:
    applied = []
    per_line: dict[int, int] = {}
    for c, off in gave:
        by_line: dict[int, int] = {}
        for i, d in off.items():
            by_line[base.line[i]] = by_line.get(base.line[i], 0) + d
        for line_id, d in by_line.items():
            per_line[line_id] = per_line.get(line_id, 0) + d
        r = c.cr.rule
        applied.append(Applied(
            rule_id=r.rule_id, name=r.name, kind=type(r.effect).__struct_config__.tag,  # type: ignore[attr-defined]
            coupon_code=c.cr.coupon_code, discount_minor=sum(off.values()),
            lines=tuple(LineAllocation(k, by_line[k]) for k in sorted(by_line))))
    gross = {ln.line_id: ln.gross_minor for ln in lines}
    assert all(0 <= d <= gross[k] for k, d in per_line.items())
    assert sum(per_line.values()) == total
    return Result(version, tuple(applied), total, per_line)


def _canonical(lines: Sequence[CartLine], active: ActiveRules) -> list[CartLine]:
    """By line id, each line with the bundle's categories of its SKU added."""
    ordered = sorted(lines, key=lambda ln: ln.line_id)
    assert len({ln.line_id for ln in ordered}) == len(ordered), "line ids must be unique"
    if active.sku_categories:
        ordered = [replace(ln, categories=tuple(sorted({*ln.categories, *extra})))
                   if (extra := active.sku_categories.get(ln.sku)) else ln for ln in ordered]
    return ordered


def evaluate(lines: Sequence[CartLine], active: ActiveRules | None, ctx: Context) -> Result:
    """The promotions that apply to the cart, and what each gives to each line."""
    if active is None or not active.rules or not lines:
        return NOTHING
    ordered = _canonical(lines, active)
    every = range(len(ordered))
    hits: dict[int, tuple[CompiledRule, Sequence[int]]] = {
        cr.order: (cr, every) for cr in active.cart_wide}
    for k, ln in enumerate(ordered):
        found = list(active.by_sku.get(ln.sku, ()))
        for cat in ln.categories:
            found.extend(active.by_category.get(cat, ()))
        for cr in found:
            entry = hits.get(cr.order)
            if entry is None:
                hits[cr.order] = (cr, [k])
            elif entry[1] is not every and entry[1][-1] != k:
                entry[1].append(k)  # type: ignore[attr-defined]
    return _evaluate(ordered, active, [hits[o] for o in sorted(hits)], ctx)


def evaluate_naive(lines: Sequence[CartLine], active: ActiveRules | None, ctx: Context) -> Result:
    """The same answer without the index: every rule looked at against every line (the
    benchmark's baseline, and a check on the index)."""
    if active is None or not active.rules or not lines:
        return NOTHING
    ordered = _canonical(lines, active)
    every = range(len(ordered))
    return _evaluate(ordered, active, [(cr, every) for cr in active.rules], ctx)


def _evaluate(ordered: list[CartLine], active: ActiveRules,
              rules: list[tuple[CompiledRule, Sequence[int]]],
              ctx: Context) -> Result:
    ctx = Context(ctx.store_id, ctx.now_local, ctx.segment,
                  frozenset(normalize_code(c) for c in ctx.coupons))
    cands = _candidates(rules, ordered, ctx)
    if not cands:
        return Result(active.version, (), 0, {})
    base = _units(ordered)
    total, gave = _best(base, cands, active.max_promotions_per_cart)
    return _result(active.version, base, ordered, total, gave)
