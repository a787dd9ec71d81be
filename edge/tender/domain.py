"""The tender domain as the daemon composes it."""

from __future__ import annotations

from edge.domain import Domain
from edge.tender import projection
from edge.tender.routes import TenderController

DOMAIN = Domain(name="tender", projections=projection.PROJECTIONS, tables=projection.TABLES,
                routes=[TenderController], hot=[TenderController.add_tender])
