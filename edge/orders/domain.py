"""The orders domain as the daemon composes it."""

from __future__ import annotations

from edge.domain import Domain
from edge.orders import projection
from edge.orders.routes import CompleteController, OrderController

DOMAIN = Domain(name="orders", projections=projection.PROJECTIONS, tables=projection.TABLES,
                routes=[CompleteController, OrderController], hot=[CompleteController.complete])
