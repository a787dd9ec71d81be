"""The promotions domain as the daemon composes it. Its down-sync applier needs the pinned HQ
key, so `edge.compose` builds it from the config (`install.applier`)."""

from __future__ import annotations

from edge.domain import Domain
from edge.promotions import migrations, projection
from edge.promotions.routes import PromotionsController

DOMAIN = Domain(name="promotions", projections=projection.PROJECTIONS, tables=projection.TABLES,
                migrations=migrations.MIGRATIONS, routes=[PromotionsController])
