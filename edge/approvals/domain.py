"""The approvals domain as the daemon composes it: before the domains whose actions it
guards (carts, tender, orders), which call `edge.approvals.commands.require`."""

from __future__ import annotations

from edge.approvals import migrations, projection
from edge.approvals.routes import ApprovalController, ApproverAdminController
from edge.domain import Domain

DOMAIN = Domain(name="approvals", projections=projection.PROJECTIONS, tables=projection.TABLES,
                migrations=migrations.MIGRATIONS,
                routes=[ApprovalController, ApproverAdminController])
