"""The approval rules are a pure function: deterministic, monotone in every threshold, and
the config that feeds them is validated at load."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigError
from edge import config as config_mod
from edge.approvals.rules import (
    ApprovalPolicy,
    Facts,
    Rule,
    RuleSet,
    evaluate,
    fingerprint,
    satisfied_by,
)
from edge.approvals.settings import CONDITIONS
from schemas.approvals import ACTIONS

limits = st.none() | st.integers(0, 100_000)
amounts = st.none() | st.integers(0, 200_000)


@st.composite
def rules(draw) -> Rule:
    action = draw(st.sampled_from(ACTIONS))
    allowed = CONDITIONS[action]
    return Rule(action,
                above_bp=draw(limits) if "above_bp" in allowed else None,
                above_minor=draw(limits) if "above_minor" in allowed else None,
                above_lines=draw(limits) if "above_lines" in allowed else None)


@st.composite
def facts(draw, action: str | None = None) -> Facts:
    return Facts(action or draw(st.sampled_from(ACTIONS)), amount_minor=draw(amounts),
                 share_bp=draw(st.none() | st.integers(0, 10_000)), lines=draw(amounts))


@given(st.lists(rules(), max_size=12), facts())
def test_evaluation_is_deterministic_and_ignores_the_order_rules_are_given_in(rs, f) -> None:
    by_action: dict[str, Rule] = {}
    for r in rs:
        by_action.setdefault(r.action, r)  # one rule per action, as the config enforces
    once = evaluate(RuleSet(by_action), f)
    assert once == evaluate(RuleSet(by_action), f)
    assert once == evaluate(RuleSet(dict(reversed(list(by_action.items())))), f)


@given(rules(), facts(), st.integers(0, 100_000), st.integers(0, 10_000), st.integers(0, 1_000))
def test_more_never_needs_less_approval(rule, f, more_minor, more_bp, more_lines) -> None:
    """Monotone: if a request needs approval, the same request for more does too."""
    f = Facts(rule.action, f.amount_minor, f.share_bp, f.lines)
    rs = RuleSet.of([rule])
    bigger = Facts(rule.action,
                   None if f.amount_minor is None else f.amount_minor + more_minor,
                   None if f.share_bp is None else f.share_bp + more_bp,
                   None if f.lines is None else f.lines + more_lines)
    if evaluate(rs, f) is not None:
        assert evaluate(rs, bigger) == rule


@given(rules(), st.integers(0, 200_000))
def test_an_amount_threshold_is_strict(rule, amount) -> None:
    if rule.above_minor is None or rule.above_bp is not None or rule.above_lines is not None:
        return
    needed = evaluate(RuleSet.of([rule]), Facts(rule.action, amount_minor=amount))
    assert (needed is not None) == (amount > rule.above_minor)


@given(facts())
def test_no_rule_needs_nobody_and_a_bare_rule_always_applies(f) -> None:
    assert evaluate(RuleSet({}), f) is None
    bare = Rule(f.action)
    assert evaluate(RuleSet.of([bare]), f) == bare
    assert bare.id == f"{f.action}:always"


@given(rules())
def test_a_manager_carries_every_rule_and_a_cashier_none(rule) -> None:
    assert satisfied_by(rule, "manager")
    assert not satisfied_by(rule, "cashier")
    assert not satisfied_by(rule, "intruder")


@given(st.sampled_from(ACTIONS), st.text(min_size=1, max_size=30), amounts, amounts)
def test_a_token_for_one_amount_is_not_one_for_another(action, subject, a, b) -> None:
    assert (fingerprint(action, subject, a) == fingerprint(action, subject, b)) == (a == b)


def _load(tmp_path: Path, toml: str):
    (tmp_path / "config.toml").write_text(toml)
    return config_mod.load(tmp_path, {})


def test_store_rules_replace_the_tenants_and_the_old_keys_give_the_defaults(tmp_path) -> None:
    cfg = _load(tmp_path, """
[discounts]
manager_threshold_bp = 1500
[approvals]
token_ttl_s = 30
rules = [{ action = "cart_void", above_lines = 10 }, { action = "refund", above_minor = 9000 }]
[approvals.stores.store-001]
rules = [{ action = "refund", above_minor = 2000 }]
[approvals.stores.store-002]
rules = [{ action = "cash_paid_out", above_minor = 5000 }]
""")
    p = ApprovalPolicy.of(cfg.approvals, "store-001", discount_above_bp=1500,
                          refund_above_minor=cfg.tender.refund_manager_above_minor)
    assert p.token_ttl_ms == 30_000
    assert p.rules.by_action["refund"] == Rule("refund", above_minor=2000)
    assert p.rules.by_action["cart_void"] == Rule("cart_void", above_lines=10)
    assert p.rules.by_action["line_discount"] == Rule("line_discount", above_bp=1500)
    assert p.rules.by_action["cash_paid_out"] == Rule("cash_paid_out")  # the default, not 002's
    assert p.rules.by_action["receiptless_return"] == Rule("receiptless_return")
    assert "cart_void" in p.rules.by_action and "price_override" in p.rules.by_action
    other = ApprovalPolicy.of(cfg.approvals, "store-002", discount_above_bp=1500,
                              refund_above_minor=5000)
    assert other.rules.by_action["refund"] == Rule("refund", above_minor=9000)
    assert evaluate(other.rules, Facts("cash_paid_out", amount_minor=5000)) is None
    assert evaluate(other.rules, Facts("cash_paid_out", amount_minor=5001)) is not None
    assert evaluate(other.rules, Facts("cart_void", lines=50)) == Rule("cart_void", above_lines=10)


@pytest.mark.parametrize("toml", [
    '[approvals]\nrules = [{ action = "teleport" }]',
    '[approvals]\nrules = [{ action = "refund", above_lines = 3 }]',
    '[approvals]\nrules = [{ action = "no_sale", above_minor = 1 }]',
    '[approvals]\nrules = [{ action = "refund" }, { action = "refund", above_minor = 5 }]',
    '[approvals]\nrules = [{ action = "refund", above_minor = -1 }]',
    '[approvals]\nrules = [{ action = "refund", role = "cashier" }]',
    '[approvals]\ntoken_ttl_s = 0',
    '[approvals.stores.s1]\nrules = [{ action = "cart_void", above_bp = 5 }]',
])
def test_a_bad_rule_is_refused_at_load(tmp_path, toml) -> None:
    with pytest.raises(ConfigError):
        _load(tmp_path, toml)
