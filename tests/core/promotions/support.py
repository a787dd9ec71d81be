"""Small builders for promotion tests: rules, bundles and carts in one line each."""

from __future__ import annotations

from datetime import datetime

from core import promotions as p
from schemas import promotions as sp

NOW = datetime(2026, 3, 10, 12, 0)


def rule(rule_id: str, effect: sp.Effect, *, skus: tuple[str, ...] = (),
         cats: tuple[str, ...] = (), **kw) -> sp.Rule:
    return sp.Rule(rule_id, kw.pop("name", rule_id), effect, sp.Target(skus, cats), **kw)


def active(*rules: sp.Rule, store: str = "s1", region: str | None = None,
           max_per_cart: int = 10, categories: dict | None = None) -> p.ActiveRules:
    return p.compile_rules(sp.Bundle(7, 0, tuple(rules), max_per_cart, categories or {}),
                           store, region)


def line(line_id: int, sku: str, price: int, qty: int = 1, *cats: str,
         weight_milli: int | None = None, held: datetime | None = None) -> p.CartLine:
    if weight_milli is not None:
        return p.CartLine(line_id, sku, price, weight_milli, "weight", cats, held)
    return p.CartLine(line_id, sku, price, qty * 1000, "each", cats, held)


def ctx(now: datetime = NOW, segment: str | None = None, coupons: tuple[str, ...] = (),
        store: str = "s1") -> p.Context:
    return p.Context(store, now, segment, frozenset(coupons))
