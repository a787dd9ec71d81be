"""The printing domain as the daemon composes it (its print jobs are primary state, not a
projection: a job records what was sent to a printer)."""

from __future__ import annotations

from edge.domain import Domain
from edge.printing.migrations import MIGRATIONS
from edge.printing.routes import ReprintController

DOMAIN = Domain(name="printing", routes=[ReprintController], migrations=MIGRATIONS)
