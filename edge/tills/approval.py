"""Where a cash action needs a manager's approval, and the one place that checks it.

`[cash]` says *when* an action needs a manager (a pay-out above its limit, a no-sale, a close
over or short beyond the threshold); the approvals domain (`edge.approvals.commands.require`)
says *how* it is approved, exactly as for returns and discounts:
- a manager's own token approves on the spot (`approval.overridden`, audited);
- a cashier with an `X-Approval-Token` for exactly this action spends it (`approval.used`);
- a cashier without one is refused 403 `approval-required` naming a pending approval request
  (recorded by the route's `ApprovalService.asking`), approved by a manager's PIN at the lane
  or remotely from an enrolled device;
- a store with no approver enrolled, or whose `[approvals]` rules name no rule for the
  action, has nobody to ask: 403 `manager-approval-required` unless the token is a manager's.

`approved` answers what the event records as `approved_by`: the manager token id for a
manager's own token, else the approver id (the `approval.used` event names the action's seq).
The store's end of day with open closing checklist items is no approvals action: a manager
token makes it (`approver`).
"""

from __future__ import annotations

from edge.approvals.commands import require
from edge.approvals.rules import ApprovalPolicy, Facts
from edge.errors import ManagerRequired
from edge.lanes import Principal
from edge.store.writer import Tx


class ApprovalRequired(ManagerRequired):
    """403 `manager-approval-required`, as every action a manager token must make (the
    approvals domain's `approval-required` names a pending approval request instead)."""


def approver(who: Principal, action: str) -> str:
    """The approving manager's token id, or ApprovalRequired naming the action."""
    if not who.is_manager:
        raise ApprovalRequired(f"{action} needs a manager's approval: repeat it with a manager "
                               "token")
    return who.token_id


def approved(tx: Tx, who: Principal, approvals: ApprovalPolicy | None, facts: Facts,
             subject: str, token: str | None, what: str) -> str:
    """Who approved `what` (call it immediately before appending the action's event): the
    approvals domain's answer, or a manager token where it has no rule for the action."""
    if approvals is not None:
        got = require(tx, who, approvals, facts, subject, token, detail=f"{what} needs a "
                      "manager's approval")
        if got is not None:
            return who.token_id if got.approval_id is None else got.approver_id
    return approver(who, what)
