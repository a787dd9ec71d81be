"""The catalog domain as the daemon composes it."""

from __future__ import annotations

from edge.catalog import downsync, projection
from edge.catalog.routes import CatalogController
from edge.domain import Domain

DOMAIN = Domain(name="catalog", projections=projection.PROJECTIONS, tables=projection.TABLES,
                routes=[CatalogController], hot=[CatalogController.item],
                appliers={kind: downsync.apply_catalog for kind in downsync.KINDS})
