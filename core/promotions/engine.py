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

What keeps it cheap (the lane runs it on every cart change, ~100 lines against thousands of
rules): what a rule needs that does not depend on the cart is decided once when the bundle is
compiled (`CompiledRule`); the index says whether a line is a rule's target or holds its reward
units, so no line is matched again; a rule's saving alone is totalled without allocating it;
and trying to drop a rule re-runs only the later rules whose units the drop changed
(`_total_without`), the others giving what they gave in the trace of the chosen rules.

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
from operator import attrgetter

from core.pricing import line_gross_minor
from core.promotions.effects import Off, Units
from core.promotions.rules import REWARD, TARGET, ActiveRules, CompiledRule, normalize_code

EXACT_LIMIT = 256


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


def _units(lines: Sequence[CartLine]) -> tuple[Units, list[list[int]]]:
    """The cart's units, line by line in the given order, and each line's unit indexes (by
    position)."""
    ids: list[int] = []
    prices: list[int] = []
    countable: list[bool] = []
    spans: list[list[int]] = []
    at = 0
    for ln in lines:
        if ln.sold_by == "each" and ln.qty_milli % 1000 == 0:
            n = ln.qty_milli // 1000
            if n <= 0:
                spans.append([])
                continue
            prices += [ln.unit_price_minor] * n
            countable += [True] * n
        else:
            n = 1
            prices.append(ln.gross_minor)
            countable.append(False)
        ids += [ln.line_id] * n
        spans.append(list(range(at, at + n)) if n > 1 else [at])
        at += n
    return Units(ids, prices, prices[:], countable, [False] * at), spans


@dataclass(slots=True)  # not frozen: built for every hit rule of every evaluation
class _Candidate:
    cr: CompiledRule
    idx: list[int]              # eligible target units
    get_idx: list[int] | None   # eligible reward units (buy X get Y of another set, free item)
    alone: int = 0              # what it gives on the untouched cart (set by `_slots`)


_BY_KEY = attrgetter("cr.key")
_BY_ALONE = attrgetter("alone")


def _matched(cr: CompiledRule, lines: Sequence[CartLine], spans: list[list[int]],
             every_unit: list[int]) -> _Candidate:
    """A rule looked at against every line (a cart-wide rule, and the naive evaluator)."""
    if not cr.skus and not cr.categories:
        idx = every_unit[:]
    else:
        idx = [i for ln, span in zip(lines, spans) if cr.matches(ln.sku, ln.categories)
               for i in span]
    get_idx = [i for ln, span in zip(lines, spans) if cr.get_matches(ln.sku, ln.categories)
               for i in span] if cr.rewards else None
    return _Candidate(cr, idx, get_idx)


def _candidates(hits: Iterable[_Candidate], lines: Sequence[CartLine], units: Units,
                ctx: Context) -> list[_Candidate]:
    """The hit rules that can apply, each with its eligible units, in application order."""
    now = ctx.now_local
    coupons, segment = ctx.coupons, ctx.segment
    held = any(ln.held_local is not None for ln in lines)
    out = []
    for c in hits:
        cr = c.cr
        if cr.coupon_code is not None and cr.coupon_code not in coupons:
            continue
        if cr.segments and segment not in cr.segments:
            continue
        if not cr.starts <= now < cr.ends:
            # Not in effect now: only on lines scanned while it was, their price lock holding.
            if not held:
                continue
            ok = {ln.line_id for ln in lines
                  if ln.held_local is not None and cr.in_effect(ln.held_local)}
            line = units.line
            c.idx = [i for i in c.idx if line[i] in ok]
            if c.get_idx is not None:
                c.get_idx = [i for i in c.get_idx if line[i] in ok]
        if not c.idx or cr.rewards and not c.get_idx:
            continue
        out.append(c)
    out.sort(key=_BY_KEY)
    return out


def _gives(units: Units, c: _Candidate) -> Off:
    """One rule on `units` (claims are marked in place); the discount per unit."""
    cr = c.cr
    return cr.give(units, c.idx, c.get_idx, cr.rule.effect, cr.original)


def _apply(units: Units, c: _Candidate) -> Off:
    """One rule on `units`, in place: claims marked and what it gives taken off `left`."""
    off = _gives(units, c)
    left = units.left
    for i, d in off.items():
        assert 0 < d <= left[i], (c.cr.rule_id, i, d, left[i])
        left[i] -= d
    return off


def _run(base: Units, chosen: Sequence[_Candidate]) -> tuple[int, list[tuple[_Candidate, Off]]]:
    """Apply `chosen` (already in priority order) to a copy of `base`."""
    units = base.copy()
    total, gave = 0, []
    for c in chosen:
        off = _apply(units, c)
        if off:
            total += sum(off.values())
            gave.append((c, off))
    return total, gave


@dataclass(slots=True)
class _State:
    """The cart after a prefix of the chosen rules: what they left and gave, and what the
    last of them gave (`off`)."""

    units: Units
    total: int
    gave: list[tuple[_Candidate, Off]]
    off: Off


def _trace(start: _State, chosen: Sequence[_Candidate]) -> list[_State]:
    """`start`, then the state after each rule of `chosen` applied in turn (`start` untouched):
    `_run` that keeps every prefix."""
    states = [start]
    units, total, gave = start.units.copy(), start.total, start.gave
    for c in chosen:
        off = _apply(units, c)
        if off:
            total += sum(off.values())
            gave = [*gave, (c, off)]
        states.append(_State(units.copy(), total, gave, off))
    return states


def _total_without(states: list[_State], chosen: Sequence[_Candidate], k: int) -> int:
    """What `chosen` without its rule k gives: `_run` of that list, re-running only what
    dropping k changes. `states` is the trace of `chosen`.

    A rule reads and writes only its own units (target and reward). Kept in step with the
    trace: the units whose state differs from it at this point (`dirty`, their values in
    `left` and `claimed`). A later rule none of whose units is dirty gives what it gave in
    the trace, and leaves its units as there; any other runs again on the trace's state with
    the dirty units put back, and its units are compared with the trace after it."""
    left: dict[int, int] = {}
    claimed: dict[int, bool] = {}
    before, after = states[k].units, states[k + 1].units
    for i in _own_units(chosen[k]):  # undo rule k
        if before.left[i] != after.left[i] or before.claimed[i] != after.claimed[i]:
            left[i], claimed[i] = before.left[i], before.claimed[i]
    total = states[k].total
    for j in range(k + 1, len(chosen)):
        c = chosen[j]
        if not left or left.keys().isdisjoint(c.idx) and (
                c.get_idx is None or left.keys().isdisjoint(c.get_idx)):
            off = states[j + 1].off
        else:
            units = states[j].units.copy()
            for i, v in left.items():
                units.left[i] = v
                units.claimed[i] = claimed[i]
            off = _apply(units, c)
            traced = states[j + 1].units
            for i in _own_units(c):
                if units.left[i] != traced.left[i] or units.claimed[i] != traced.claimed[i]:
                    left[i], claimed[i] = units.left[i], units.claimed[i]
                elif i in left:
                    del left[i], claimed[i]
        if off:
            total += sum(off.values())
    return total


def _own_units(c: _Candidate) -> list[int]:
    return c.idx if c.get_idx is None else [*c.idx, *c.get_idx]


def _alone(base: Units, c: _Candidate) -> int:
    # What one rule gives on the untouched cart (no rule has claimed anything yet).
    cr = c.cr
    if cr.quick is not None:
        return cr.quick(base, c.idx, c.get_idx, cr.rule.effect, cr.original)
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


def _slots(base: Units, cands: list[_Candidate]
           ) -> tuple[list[list[_Candidate]], list[_Candidate]]:
    """The rules that give something alone (`alone` set on each): the stackable ones by group
    (a rule without a group is a group of one), and the exclusive ones (each an alternative on
    its own)."""
    groups: dict[str, list[_Candidate]] = {}
    exclusive = []
    for c in cands:
        cr = c.cr
        # A group is placed where its first rule is, whatever that rule gives.
        group = None if cr.rule.exclusive else groups.setdefault(cr.slot, [])
        quick = cr.quick
        alone = c.alone = quick(base, c.idx, c.get_idx, cr.rule.effect, cr.original) \
            if quick is not None else _alone(base, c)
        if alone <= 0:
            continue
        if group is None:
            exclusive.append(c)
        else:
            group.append(c)
    return [g for g in groups.values() if g], exclusive


def _best(base: Units, cands: list[_Candidate], limit: int
          ) -> tuple[int, list[tuple[_Candidate, Off]]]:
    groups, exclusive = _slots(base, cands)
    options: list[tuple[int, list[tuple[_Candidate, Off]]]] = [_run(base, [c]) for c in exclusive]
    size = 1
    for g in groups:
        size *= len(g) + 1
        if size > EXACT_LIMIT:
            break
    if size <= EXACT_LIMIT:
        for pick in product(*[[None, *g] for g in groups]):
            chosen = sorted((c for c in pick if c is not None), key=_BY_KEY)
            if not chosen:
                continue
            total, gave = _run(base, chosen)
            if gave and len(gave) <= limit:
                options.append((total, gave))
    else:
        keep = [g[0] if len(g) == 1 else  # most rules are a group of their own
                max(g, key=lambda c: (c.alone, -c.cr.rule.priority, -c.cr.order))
                for g in groups]
        keep.sort(key=_BY_KEY)
        keep.sort(key=_BY_ALONE, reverse=True)  # the largest savings first, ties in key order
        chosen = sorted(keep[:limit], key=_BY_KEY)
        states = _trace(_State(base, 0, [], {}), chosen)
        total = states[-1].total
        improved = True
        while improved and len(chosen) > 1:  # drop a rule that costs others more than it gives
            improved = False
            # Only a rule that claims units, or one before a spend threshold (it lowers the
            # spend), can cost the others more than it gives; no other is worth trying.
            last_threshold = max((k for k, c in enumerate(chosen) if c.cr.threshold),
                                 default=-1)
            for k in range(len(chosen)):
                if not (chosen[k].cr.claims or k < last_threshold):
                    continue
                t2 = _total_without(states, chosen, k)
                if t2 > total:
                    # The rules before k give what they gave: trace only those after it.
                    chosen = chosen[:k] + chosen[k + 1:]
                    states = states[:k] + _trace(states[k], chosen[k:])
                    assert states[-1].total == t2
                    total, improved = t2, True
                    break
        gave = states[-1].gave
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
            rule_id=r.rule_id, name=r.name, kind=c.cr.kind,
            coupon_code=c.cr.coupon_code, discount_minor=sum(off.values()),
            lines=tuple(LineAllocation(k, by_line[k]) for k in sorted(by_line))))
    line_of = {ln.line_id: ln for ln in lines}
    assert all(0 <= d <= line_of[k].gross_minor for k, d in per_line.items())
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
    base, spans = _units(ordered)
    every_unit = list(range(len(base.line)))
    hits = [_matched(cr, ordered, spans, every_unit) for cr in active.cart_wide]
    # The index says whether a line is a rule's target or holds its reward units, so no
    # line is matched against a rule again here; each line's units are added once.
    found_by_order: dict[int, _Candidate] = {}
    by_sku, by_category = active.by_sku, active.by_category
    for ln, span in zip(ordered, spans):
        if not span:
            continue
        found = by_sku.get(ln.sku, ())
        for cat in ln.categories:
            more = by_category.get(cat)
            if more:
                found = (*found, *more)
        last = span[-1]
        for cr, role in found:
            c = found_by_order.get(cr.order)
            if c is None:
                c = found_by_order[cr.order] = _Candidate(cr, [], None)
            if role & TARGET:
                idx = c.idx
                if not idx or idx[-1] != last:
                    idx += span
            if role & REWARD:
                get_idx = c.get_idx
                if get_idx is None:
                    c.get_idx = span[:]
                elif get_idx[-1] != last:
                    get_idx += span
    hits += found_by_order.values()
    return _evaluate(ordered, active, base, hits, ctx)


def evaluate_naive(lines: Sequence[CartLine], active: ActiveRules | None, ctx: Context) -> Result:
    """The same answer without the index: every rule looked at against every line (the
    benchmark's baseline, and a check on the index)."""
    if active is None or not active.rules or not lines:
        return NOTHING
    ordered = _canonical(lines, active)
    base, spans = _units(ordered)
    every_unit = list(range(len(base.line)))
    return _evaluate(ordered, active, base,
                     [_matched(cr, ordered, spans, every_unit) for cr in active.rules], ctx)


def _evaluate(ordered: list[CartLine], active: ActiveRules, base: Units,
              hits: list[_Candidate], ctx: Context) -> Result:
    ctx = Context(ctx.store_id, ctx.now_local, ctx.segment,
                  frozenset(normalize_code(c) for c in ctx.coupons))
    cands = _candidates(hits, ordered, base, ctx)
    if not cands:
        return Result(active.version, (), 0, {})
    total, gave = _best(base, cands, active.max_promotions_per_cart)
    return _result(active.version, base, ordered, total, gave)
