"""The pickup (BOPIS) domain as the daemon composes it. Its background sweeper
(`service.PickupService`) is built in `edge.compose` and run by `Daemon.lifespan`."""

from __future__ import annotations

from edge.domain import Domain
from edge.pickup import downsync, migrations, projection
from edge.pickup.routes import PickupController

DOMAIN = Domain(name="pickup", projections=projection.PROJECTIONS, tables=projection.TABLES,
                routes=[PickupController], migrations=migrations.MIGRATIONS,
                appliers={downsync.KIND: downsync.apply_orders})
