"""The payments read model as the daemon composes it (no routes: payments are read through
the tender and orders routes)."""

from __future__ import annotations

from edge.domain import Domain
from edge.payments import migrations, projection

DOMAIN = Domain(name="payments", projections=projection.PROJECTIONS, tables=projection.TABLES,
                migrations=migrations.MIGRATIONS)
