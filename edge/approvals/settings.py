"""[approvals]: which action needs a manager under which condition (the tenant's rules, with
per-store overrides), and how long requests and tokens live, how PINs lock out.

```toml
[approvals]
token_ttl_s = 120

[[approvals.rules]]          # the tenant's rules
action = "cart_void"
above_lines = 10             # a void of more than 10 lines, or
above_minor = 20000          # of more than 200.00

[approvals.stores.store-002] # this store's rules replace the tenant's for the same actions
rules = [{ action = "refund", above_minor = 10000 }]
```

A rule with no condition always applies; with several, any one met applies. The defaults
(`edge.approvals.rules.legacy`): discounts above `[discounts] manager_threshold_bp`, refunds
and returns above `[tender] refund_manager_above_minor`, and every receiptless return, return
outside the window, price override, no-sale and cash paid out need a manager; a cart void
needs nobody. A rule given here replaces the default for its action.
Validated at load: an unknown action, a condition that does not apply to its action, or one
action twice in a list is refused (the daemon does not start).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.approvals import Action

# Which conditions each action can be judged by.
CONDITIONS: dict[str, frozenset[str]] = {
    "line_discount": frozenset({"above_bp", "above_minor"}),
    "cart_discount": frozenset({"above_bp", "above_minor"}),
    "price_override": frozenset({"above_bp", "above_minor"}),
    "refund": frozenset({"above_minor"}),
    "return": frozenset({"above_minor"}),
    "receiptless_return": frozenset({"above_minor"}),
    "return_outside_window": frozenset({"above_minor"}),
    "cart_void": frozenset({"above_lines", "above_minor"}),
    "no_sale": frozenset(),
    "cash_paid_out": frozenset({"above_minor"}),
    # A till closed over or short: the amount is the difference, either way.
    "till_close_difference": frozenset({"above_minor"}),
    # Stock variances are judged in units by [inventory] manager_above_milli; no condition here.
    "stock_count_variance": frozenset(),
    "stock_adjustment": frozenset(),
}
MAX_RULES = 64


class RuleConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    action: Action
    role: Literal["manager"] = "manager"
    above_bp: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None
    above_minor: Annotated[int, msgspec.Meta(ge=0)] | None = None
    above_lines: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None

    def __post_init__(self) -> None:
        given = {c for c in ("above_bp", "above_minor", "above_lines")
                 if getattr(self, c) is not None}
        wrong = sorted(given - CONDITIONS[self.action])
        if wrong:
            takes = ", ".join(sorted(CONDITIONS[self.action])) or "no condition"
            raise ValueError(f"approvals rule for {self.action}: {', '.join(wrong)} does not "
                             f"apply (it takes {takes})")


def _one_per_action(rules: tuple[RuleConfig, ...], where: str) -> None:
    seen: set[str] = set()
    for r in rules:
        if r.action in seen:
            raise ValueError(f"{where}: two rules for {r.action}; give one (its conditions "
                             "are alternatives)")
        seen.add(r.action)


class StoreRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    rules: Annotated[tuple[RuleConfig, ...], msgspec.Meta(max_length=MAX_RULES)] = ()

    def __post_init__(self) -> None:
        _one_per_action(self.rules, "approvals.stores")


class ApprovalsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # An approval token is good for this long after the grant, once.
    token_ttl_s: Annotated[int, msgspec.Meta(ge=5, le=3_600)] = 120
    # A pending request nobody decided is void after this long.
    request_ttl_s: Annotated[int, msgspec.Meta(ge=10, le=86_400)] = 600
    # A remote decision must be signed within this many seconds of its arrival (either side).
    signature_skew_s: Annotated[int, msgspec.Meta(ge=5, le=3_600)] = 300
    # Wrong PINs in a row before an approver is locked out, and for how long.
    pin_max_failures: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5
    pin_lockout_s: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 900
    rules: Annotated[tuple[RuleConfig, ...], msgspec.Meta(max_length=MAX_RULES)] = ()
    stores: dict[str, StoreRules] = {}

    def __post_init__(self) -> None:
        _one_per_action(self.rules, "approvals.rules")
