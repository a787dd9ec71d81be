"""The tills domain (cash management) as the daemon composes it."""

from __future__ import annotations

from edge.domain import Domain
from edge.tills import migrations, projection
from edge.tills.routes import TillController

DOMAIN = Domain(name="tills", projections=projection.PROJECTIONS, tables=projection.TABLES,
                migrations=migrations.MIGRATIONS, routes=[TillController])
