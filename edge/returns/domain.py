"""The returns domain as the daemon composes it (after orders and tender, whose refund path
it pays through)."""

from __future__ import annotations

from edge.domain import Domain
from edge.returns import projection
from edge.returns.migrations import MIGRATIONS
from edge.returns.routes import ExchangesController, ReturnsController

DOMAIN = Domain(name="returns", projections=projection.PROJECTIONS, tables=projection.TABLES,
                routes=[ReturnsController, ExchangesController], migrations=MIGRATIONS)
