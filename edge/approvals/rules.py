"""Which request needs whose approval: a pure function of the store's rules and the facts of
one request (action, amount, share, lines), property-tested (tests/edge/approvals).

Invariants: `evaluate` is deterministic; for a rule with a threshold it is monotone (if an
amount needs approval, every larger amount does); a rule with no condition always applies;
an action without a rule never needs approval; a role at or above a rule's role never needs
it (a manager's own token approves implicitly, recorded as an override).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from edge.approvals.settings import ApprovalsConfig, RuleConfig

ROLE_RANK: Mapping[str, int] = {"cashier": 0, "manager": 1}


@dataclass(frozen=True, slots=True)
class Rule:
    action: str
    role: str = "manager"
    above_bp: int | None = None
    above_minor: int | None = None
    above_lines: int | None = None

    @property
    def id(self) -> str:
        """A stable name for the audit trail, e.g. `line_discount:above_bp=2000`."""
        conds = [f"{name}={value}" for name, value in (
            ("above_bp", self.above_bp), ("above_minor", self.above_minor),
            ("above_lines", self.above_lines)) if value is not None]
        return f"{self.action}:{','.join(conds) or 'always'}"

    def describe(self) -> str:
        parts = []
        if self.above_bp is not None:
            parts.append(f"more than {self.above_bp / 100:.2f} %")
        if self.above_minor is not None:
            parts.append(f"more than {self.above_minor} (minor units)")
        if self.above_lines is not None:
            parts.append(f"more than {self.above_lines} lines")
        when = " or ".join(parts) if parts else "always"
        return f"{self.action.replace('_', ' ')} needs a {self.role} ({when})"


@dataclass(frozen=True, slots=True)
class Facts:
    """What a request would do, as the rules judge it."""

    action: str
    amount_minor: int | None = None
    share_bp: int | None = None
    lines: int | None = None


@dataclass(frozen=True, slots=True)
class RuleSet:
    by_action: Mapping[str, Rule]

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> RuleSet:
        return cls({r.action: r for r in rules})


def applies(rule: Rule, facts: Facts) -> bool:
    given = [(limit, value) for limit, value in (
        (rule.above_bp, facts.share_bp), (rule.above_minor, facts.amount_minor),
        (rule.above_lines, facts.lines)) if limit is not None]
    if not given:
        return True
    return any(value is not None and value > limit for limit, value in given)


def evaluate(rules: RuleSet, facts: Facts) -> Rule | None:
    """The rule this request falls under, or None when it needs no approval from anyone."""
    rule = rules.by_action.get(facts.action)
    return rule if rule is not None and applies(rule, facts) else None


def satisfied_by(rule: Rule, role: str) -> bool:
    """Whether the caller's own role already carries the approval."""
    return ROLE_RANK.get(role, -1) >= ROLE_RANK[rule.role]


def fingerprint(action: str, subject: str, amount_minor: int | None) -> str:
    """What an approval token is bound to: the action, its subject (cart or order, and line)
    and its amount. Another amount is another fingerprint."""
    return f"{action}|{subject}|{'-' if amount_minor is None else amount_minor}"


def _rule(c: RuleConfig) -> Rule:
    return Rule(c.action, c.role, c.above_bp, c.above_minor, c.above_lines)


def legacy(discount_above_bp: int, refund_above_minor: int) -> RuleSet:
    """The default rules: what the older config keys meant (discounts above a share, refunds
    and returns above an amount need a manager), and a manager for every receiptless
    return, return outside the window, price override, no-sale drawer opening, cash paid
    out, till closed over/short, stock count variance and stock adjustment (whenever the
    owning domain's own threshold says the action needs a manager: `[cash]`, `[inventory]`).
    A cart void needs nobody unless a rule says so."""
    return RuleSet.of((Rule("line_discount", above_bp=discount_above_bp),
                       Rule("cart_discount", above_bp=discount_above_bp),
                       Rule("refund", above_minor=refund_above_minor),
                       Rule("return", above_minor=refund_above_minor),
                       Rule("receiptless_return"), Rule("return_outside_window"),
                       Rule("price_override"), Rule("no_sale"), Rule("cash_paid_out"),
                       Rule("till_close_difference"), Rule("stock_count_variance"),
                       Rule("stock_adjustment")))


def effective(config: ApprovalsConfig, store_id: str, *, discount_above_bp: int,
              refund_above_minor: int) -> RuleSet:
    """This store's rules: defaults from the older config keys, replaced action by action by
    the tenant's rules, then by the store's own."""
    rules = dict(legacy(discount_above_bp, refund_above_minor).by_action)
    rules.update({c.action: _rule(c) for c in config.rules})
    own = config.stores.get(store_id)
    if own is not None:
        rules.update({c.action: _rule(c) for c in own.rules})
    return RuleSet(rules)


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """The store's rules and the approval timings, as commands use them (built at start)."""

    rules: RuleSet = RuleSet({})
    token_ttl_ms: int = 120_000
    request_ttl_ms: int = 600_000
    signature_skew_ms: int = 300_000
    pin_max_failures: int = 5
    pin_lockout_ms: int = 900_000

    @classmethod
    def of(cls, config: ApprovalsConfig, store_id: str, *, discount_above_bp: int,
           refund_above_minor: int) -> ApprovalPolicy:
        return cls(
            effective(config, store_id, discount_above_bp=discount_above_bp,
                      refund_above_minor=refund_above_minor),
            token_ttl_ms=config.token_ttl_s * 1000, request_ttl_ms=config.request_ttl_s * 1000,
            signature_skew_ms=config.signature_skew_s * 1000,
            pin_max_failures=config.pin_max_failures, pin_lockout_ms=config.pin_lockout_s * 1000)
