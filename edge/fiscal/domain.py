"""The fiscal domain as the daemon composes it: the journal's read models (the sealer that
writes it is wired by `edge.compose`)."""

from __future__ import annotations

from edge.domain import Domain
from edge.fiscal import migrations, projection

DOMAIN = Domain(name="fiscal", projections=projection.PROJECTIONS, tables=projection.TABLES,
                migrations=migrations.MIGRATIONS)
