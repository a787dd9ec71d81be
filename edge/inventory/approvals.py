"""Who may approve a stock variance. For now a manager token is the approval: this is the one
place that decides it, so the approvals domain (when it lands) replaces this function and
nothing else."""

from __future__ import annotations

from collections.abc import Iterable

from edge.errors import ManagerRequired
from edge.lanes import Role


def approve_variance(role: Role, variances_milli: Iterable[int], manager_above_milli: int,
                     what: str) -> Role:
    """The role that approved `what`: any role when every variance is within the threshold,
    else a manager (raises `ManagerRequired`, nothing recorded)."""
    worst = max((abs(v) for v in variances_milli), default=0)
    if worst > manager_above_milli and role != "manager":
        raise ManagerRequired(f"{what} has a variance of {worst / 1000:g} units, above "
                              f"{manager_above_milli / 1000:g}: a manager token must approve it",
                              variance_milli=worst, threshold_milli=manager_above_milli)
    return role
