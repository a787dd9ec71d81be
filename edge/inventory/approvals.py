"""Who approves a stock variance: the one place that decides it.

`[inventory] manager_above_milli` says *when* a count or an adjustment needs a manager (a
variance above it, in units); the approvals domain (`edge.approvals.commands.require`) says
*how*, as for returns and cash: a manager's own token approves on the spot (audited as
`approval.overridden`), a cashier's request is refused 403 `approval-required` naming a pending
approval (a manager's PIN at the lane or a signed decision from a manager's device), and the
retry with the `X-Approval-Token` spends it (`approval.used`). A store with no approver
enrolled, or whose `[approvals]` rules name no rule for the action, still needs a manager
token (403 `manager-approval-required`).

A count is blind: what is asked names the section, how many lines are off and the threshold,
never the expected quantities nor the variance itself. The approval is bound to exactly the
counted quantities (a digest in its subject): another count of the section needs its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from edge.approvals.commands import require
from edge.approvals.rules import ApprovalPolicy, Facts
from edge.errors import ManagerRequired
from edge.lanes import Principal, Role
from edge.store.writer import Tx


def count_subject(section: str, counted: Mapping[str, int]) -> str:
    """`count:<section>/<digest of the counted lines>`: what a count's approval is bound to."""
    canonical = "\n".join(f"{sku}={milli}" for sku, milli in sorted(counted.items()))
    return f"count:{section}/{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


def adjustment_subject(sku: str, delta_milli: int, reason: str) -> str:
    return f"stock:{sku}/adjust:{delta_milli}/{reason}"


def approve_variance(tx: Tx, who: Principal, approvals: ApprovalPolicy | None,
                     variances_milli: Iterable[int], manager_above_milli: int, what: str, *,
                     action: str, subject: str, token: str | None = None) -> Role:
    """The role that approved `what`: the caller's when every variance is within the
    threshold, else a manager's (an approval spent or a manager's own token); raises
    before anything is appended otherwise. Call it immediately before appending the event."""
    off = [abs(v) for v in variances_milli if abs(v) > manager_above_milli]
    if not off:
        return who.role
    limit = f"{manager_above_milli / 1000:g}"
    if approvals is not None:
        got = require(tx, who, approvals, Facts(action, lines=len(off)), subject, token,
                      detail=f"{what} has {len(off)} line(s) with a variance above {limit} units")
        if got is not None:
            return "manager"
    worst = max(off)
    if not who.is_manager:
        raise ManagerRequired(f"{what} has a variance of {worst / 1000:g} units, above "
                              f"{limit}: a manager token must approve it",
                              variance_milli=worst, threshold_milli=manager_above_milli)
    return who.role
