"""The inventory domain's refusals (problem types at the HTTP edge, exit codes at the CLI)."""

from __future__ import annotations

from core.errors import Conflict, InvalidInput, NotFound


class UnknownSku(NotFound):
    slug, title = "unknown-sku", "No stock or catalog item with this SKU"


class UnknownDelivery(NotFound):
    slug, title = "unknown-delivery", "No such delivery or transfer"


class AlreadyDone(Conflict):
    slug, title = "already-done", "This delivery or transfer was already handled"


class InsufficientStock(Conflict):
    slug, title = "insufficient-stock", "Not enough available stock"


class InvalidStock(InvalidInput):
    slug, title = "invalid-stock-request", "The stock request is not valid"
