"""The inventory domain as the daemon composes it."""

from __future__ import annotations

from edge.domain import Domain
from edge.inventory import downsync, migrations, projection
from edge.inventory.routes import StockController

DOMAIN = Domain(name="inventory", projections=projection.PROJECTIONS, tables=projection.TABLES,
                routes=[StockController], hot=[StockController.show],
                migrations=migrations.MIGRATIONS,
                appliers={kind: downsync.apply_stock for kind in downsync.KINDS})
