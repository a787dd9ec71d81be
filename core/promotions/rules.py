"""A bundle's rules made ready to evaluate: windows parsed once, store and region scope applied
once, and an index from SKU and category to the rules that can touch them, so a cart looks at
the rules its own lines name instead of every rule in the bundle.

`ActiveRules` is immutable and built once per bundle (the edge keeps one per active bundle; HQ
one per simulated bundle and store). What a rule's evaluation would otherwise decide on every
cart (its application order, whether it claims units or needs reward units, its effect's
function, its group) is decided here once, on `CompiledRule`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.promotions.effects import GIVES, Give, Quick, quick_total
from schemas import promotions as sp

_NEVER_BEFORE = datetime.min
_NEVER_AFTER = datetime.max


def parse_local(text: str) -> datetime:
    """A store-local wall-clock time, `YYYY-MM-DDTHH:MM[:SS]`, no offset."""
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is not None:
        raise ValueError(f"{text!r}: a promotion time is store-local, without an offset")
    return moment


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: sp.Rule
    order: int                     # position in the bundle: a stable tie-break
    starts: datetime
    ends: datetime
    skus: frozenset[str]
    categories: frozenset[str]
    get_skus: frozenset[str]
    get_categories: frozenset[str]
    coupon_code: str | None
    # Decided once here rather than on every evaluation:
    key: tuple[int, int]           # application order: priority (higher first), bundle order
    claims: bool                   # a quantity rule (or a free item): it marks the units it uses
    rewards: bool                  # gives reward units of its own set (`get`, `free_sku`)
    threshold: bool                # a spend threshold (what an earlier rule gives lowers it)
    original: bool                 # percentages of the original price (`base="original"`)
    slot: str                      # its group; a rule without one is a group of its own
    kind: str                      # the effect's tag
    give: Give = field(repr=False)
    quick: Quick | None = field(repr=False)  # its total without allocating or claiming
    segments: tuple[str, ...] = ()

    @property
    def rule_id(self) -> str:
        return self.rule.rule_id

    def in_effect(self, moment: datetime) -> bool:
        return self.starts <= moment < self.ends

    def matches(self, sku: str, categories: tuple[str, ...]) -> bool:
        if not self.skus and not self.categories:
            return True
        return sku in self.skus or any(c in self.categories for c in categories)

    def get_matches(self, sku: str, categories: tuple[str, ...]) -> bool:
        return sku in self.get_skus or any(c in self.get_categories for c in categories)


def normalize_code(code: str) -> str:
    return code.strip().upper()


def validate(rule: sp.Rule) -> None:
    """Refuse a rule whose numbers make no sense (a ValueError naming the rule and field)."""
    e = rule.effect

    def bad(msg: str) -> ValueError:
        return ValueError(f"rule {rule.rule_id}: {msg}")

    def pct(v: int, name: str) -> None:
        if not 0 <= v <= sp.BP:
            raise bad(f"{name} must be 0..{sp.BP} basis points")

    if isinstance(e, sp.PercentOff):
        pct(e.percent_bp, "percent_bp")
    elif isinstance(e, sp.AmountOff):
        if e.amount_minor < 0:
            raise bad("amount_minor must be >= 0")
    elif isinstance(e, sp.FixedPrice):
        if e.price_minor < 0:
            raise bad("price_minor must be >= 0")
    elif isinstance(e, sp.BuyXGetY):
        if e.buy_qty < 1 or e.get_qty < 1:
            raise bad("buy_qty and get_qty must be >= 1")
        pct(e.percent_bp, "percent_bp")
        if e.get is not None and e.get.is_cart:
            raise bad("get must name SKUs or categories")
    elif isinstance(e, sp.MixMatch):
        if e.qty < 2 or e.price_minor < 0:
            raise bad("mix_match needs qty >= 2 and price_minor >= 0")
    elif isinstance(e, sp.MultiBuy):
        if not 1 <= len(e.tiers) <= sp.MAX_TIERS:
            raise bad(f"multi_buy needs 1..{sp.MAX_TIERS} tiers")
        for t in e.tiers:
            if t.min_qty < 1 or (t.percent_bp is None) == (t.unit_price_minor is None):
                raise bad("each tier needs min_qty >= 1 and exactly one of percent_bp or "
                          "unit_price_minor")
            if t.percent_bp is not None:
                pct(t.percent_bp, "tier percent_bp")
            if t.unit_price_minor is not None and t.unit_price_minor < 0:
                raise bad("tier unit_price_minor must be >= 0")
    elif isinstance(e, sp.SpendThreshold):
        if e.threshold_minor < 0 or e.amount_off_minor < 0:
            raise bad("threshold_minor and amount_off_minor must be >= 0")
        if (e.amount_off_minor > 0) == (e.free_sku is not None):
            raise bad("spend_threshold gives exactly one of amount_off_minor or free_sku")
    for target in (rule.target, getattr(e, "get", None)):
        if target is not None and len(target.skus) + len(target.categories) > \
                sp.MAX_ITEMS_PER_TARGET:
            raise bad(f"a target names at most {sp.MAX_ITEMS_PER_TARGET} SKUs and categories")
    starts = parse_local(rule.starts_local) if rule.starts_local else _NEVER_BEFORE
    ends = parse_local(rule.ends_local) if rule.ends_local else _NEVER_AFTER
    if ends <= starts:
        raise bad("ends_local must be after starts_local")
    if rule.coupon is not None and (rule.coupon.max_uses < 1
                                    or rule.coupon.offline_allowance_per_store < 0
                                    or not normalize_code(rule.coupon.code)):
        raise bad("a coupon needs a code, max_uses >= 1 and offline_allowance_per_store >= 0")


def validate_bundle(bundle: sp.Bundle) -> None:
    if len(bundle.rules) > sp.MAX_RULES_PER_BUNDLE:
        raise ValueError(f"a bundle holds at most {sp.MAX_RULES_PER_BUNDLE} rules")
    if bundle.max_promotions_per_cart < 1:
        raise ValueError("max_promotions_per_cart must be >= 1")
    seen: set[str] = set()
    for rule in bundle.rules:
        if rule.rule_id in seen:
            raise ValueError(f"rule {rule.rule_id} appears twice")
        seen.add(rule.rule_id)
        validate(rule)


TARGET, REWARD = 1, 2  # what an index entry says a SKU or category is to its rule


@dataclass(frozen=True)
class ActiveRules:
    """The rules of one bundle that can apply in one store, indexed."""

    version: int
    max_promotions_per_cart: int
    rules: tuple[CompiledRule, ...]
    # SKU or category -> the rules it is a target of (`TARGET`), a reward of (`REWARD`), or both.
    by_sku: dict[str, tuple[tuple[CompiledRule, int], ...]] = field(repr=False)
    by_category: dict[str, tuple[tuple[CompiledRule, int], ...]] = field(repr=False)
    cart_wide: tuple[CompiledRule, ...] = field(repr=False)
    sku_categories: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    # Some rule is for customer segments only: the caller must say who the cart is for.
    segmented: bool = False

    def __len__(self) -> int:
        return len(self.rules)


def _compile(rule: sp.Rule, order: int) -> CompiledRule:
    e = rule.effect
    get = getattr(e, "get", None)
    free_sku = getattr(e, "free_sku", None)
    rewards = isinstance(e, sp.BuyXGetY) and get is not None or \
        isinstance(e, sp.SpendThreshold) and free_sku is not None
    claims = isinstance(e, (sp.FixedPrice, sp.BuyXGetY, sp.MixMatch, sp.MultiBuy)) or \
        isinstance(e, sp.SpendThreshold) and free_sku is not None
    return CompiledRule(
        rule=rule, order=order,
        starts=parse_local(rule.starts_local) if rule.starts_local else _NEVER_BEFORE,
        ends=parse_local(rule.ends_local) if rule.ends_local else _NEVER_AFTER,
        skus=frozenset(rule.target.skus), categories=frozenset(rule.target.categories),
        get_skus=frozenset(get.skus if get else ()) | ({free_sku} if free_sku else set()),
        get_categories=frozenset(get.categories if get else ()),
        coupon_code=normalize_code(rule.coupon.code) if rule.coupon else None,
        key=(-rule.priority, order), claims=claims, rewards=rewards,
        threshold=isinstance(e, sp.SpendThreshold), original=rule.base == "original",
        slot=rule.group if rule.group is not None else "\0" + rule.rule_id,
        kind=type(e).__struct_config__.tag,  # type: ignore[attr-defined]
        give=GIVES[type(e)], quick=quick_total(e),
        segments=rule.segments,
    )


def compile_rules(bundle: sp.Bundle, store_id: str | None = None,
                  region: str | None = None) -> ActiveRules:
    """The bundle's rules for a store (None: every rule, whatever its scope; HQ's view)."""
    validate_bundle(bundle)
    kept: list[CompiledRule] = []
    for order, rule in enumerate(bundle.rules):
        if store_id is not None and rule.stores and store_id not in rule.stores:
            continue
        if store_id is not None and rule.regions and region not in rule.regions:
            continue
        kept.append(_compile(rule, order))
    by_sku: dict[str, list[tuple[CompiledRule, int]]] = {}
    by_cat: dict[str, list[tuple[CompiledRule, int]]] = {}
    cart_wide: list[CompiledRule] = []
    for cr in kept:
        if not cr.skus and not cr.categories:
            cart_wide.append(cr)  # its reward units, if any, are looked for on every line
            continue
        for index, target, reward in ((by_sku, cr.skus, cr.get_skus),
                                      (by_cat, cr.categories, cr.get_categories)):
            for name in sorted(target | reward):
                index.setdefault(name, []).append(
                    (cr, (TARGET if name in target else 0) | (REWARD if name in reward else 0)))
    sku_categories: dict[str, list[str]] = {}
    for cat, skus in sorted(bundle.categories.items()):
        for sku in skus:
            sku_categories.setdefault(sku, []).append(cat)
    return ActiveRules(
        sku_categories={k: tuple(v) for k, v in sku_categories.items()},
        version=bundle.version, max_promotions_per_cart=bundle.max_promotions_per_cart,
        rules=tuple(kept), by_sku={k: tuple(v) for k, v in by_sku.items()},
        by_category={k: tuple(v) for k, v in by_cat.items()}, cart_wide=tuple(cart_wide),
        segmented=any(cr.rule.segments for cr in kept),
    )
