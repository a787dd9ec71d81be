"""Where a cash action needs a manager's approval, and the one place that checks it.

Until manager approvals land (their own domain), an approval is the request being made with a
manager token; `approver` is the single function to replace by a check of an approval token.
It answers the token id recorded as `approved_by` on the event.
"""

from __future__ import annotations

from edge.errors import ManagerRequired
from edge.lanes import Principal


class ApprovalRequired(ManagerRequired):
    """403 `manager-approval-required`, as every action a manager token must make (the
    approvals domain's `approval-required` names a pending approval request instead)."""


def approver(who: Principal, action: str) -> str:
    """The approving manager's token id, or ApprovalRequired naming the action."""
    if not who.is_manager:
        raise ApprovalRequired(f"{action} needs a manager's approval: repeat it with a manager "
                               "token")
    return who.token_id
