"""The loyalty domain as the daemon composes it (after carts: tender and orders call its hooks)."""

from __future__ import annotations

from edge.domain import Domain
from edge.loyalty import commands, projection
from edge.loyalty.migrations import MIGRATIONS
from edge.loyalty.routes import LoyaltyController

DOMAIN = Domain(name="loyalty", projections=projection.PROJECTIONS, tables=projection.TABLES,
                routes=[LoyaltyController], appliers=commands.APPLIERS, migrations=MIGRATIONS)
