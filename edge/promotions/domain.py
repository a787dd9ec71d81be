"""The promotions domain as the daemon composes it. Its bundle applier needs the configured HQ
key, so `edge.compose` builds it from the config (`install.applier`); the key applier
(`promotions.key`) needs none."""

from __future__ import annotations

from edge.domain import Domain
from edge.promotions import keys, migrations, projection
from edge.promotions.routes import PromotionsController

DOMAIN = Domain(name="promotions", projections=projection.PROJECTIONS, tables=projection.TABLES,
                migrations=migrations.MIGRATIONS, routes=[PromotionsController],
                appliers=keys.APPLIERS)
