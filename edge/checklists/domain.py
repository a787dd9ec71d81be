"""The checklists domain as the daemon composes it."""

from __future__ import annotations

from edge.checklists import commands, migrations, projection
from edge.checklists.routes import ChecklistController
from edge.domain import Domain

DOMAIN = Domain(name="checklists", projections=projection.PROJECTIONS, tables=projection.TABLES,
                migrations=migrations.MIGRATIONS, routes=[ChecklistController],
                appliers={"checklist.defined": commands.apply_definitions})
