"""The fiscal domain as the daemon composes it: the journal's read models (the sealer that
writes it is wired by `edge.compose`)."""

from __future__ import annotations

from edge.domain import Domain
from edge.fiscal import migrations, projection
from edge.fiscal.routes import FiscalController

DOMAIN = Domain(name="fiscal", projections=projection.PROJECTIONS, tables=projection.TABLES,
                migrations=migrations.MIGRATIONS, routes=[FiscalController])
