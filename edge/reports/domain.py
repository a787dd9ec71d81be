"""The reports domain as the daemon composes it (it reads the log; it keeps no read model)."""

from __future__ import annotations

from edge.domain import Domain
from edge.reports.routes import ReportController

DOMAIN = Domain(name="reports", routes=[ReportController])
