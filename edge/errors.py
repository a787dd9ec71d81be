"""Domain errors. Each maps once to an RFC 9457 problem at the HTTP edge (`edge.api.problems`)
and to an exit code at the CLI edge. Raising one inside a write rolls back everything that
request did."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"
    exit_code: int = 2
    # Seconds a client should wait before retrying, sent as Retry-After when set.
    retry_after_s: int | None = None

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(DomainError):
    status, slug, title = 422, "invalid-input", "The request is not valid"


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


class UnknownItem(DomainError):
    status, slug, title = 422, "unknown-item", "No product matches this SKU or barcode"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Not allowed for this lane"


class ManagerRequired(DomainError):
    status, slug, title = 403, "manager-approval-required", "A manager must approve this"


class CartClosed(DomainError):
    status, slug, title = 409, "cart-closed", "The cart is no longer open"


class PriceLockExpired(DomainError):
    status, slug, title = 409, "price-lock-expired", "Price lock expired on some lines"


class TenderInsufficient(DomainError):
    status, slug, title = 409, "tender-insufficient", "Tendered amount does not cover the total"


class EmptyCart(DomainError):
    status, slug, title = 409, "empty-cart", "The cart has no lines"


class CatalogRejected(DomainError):
    status, slug, title = 422, "catalog-rejected", "Catalog import rejected; nothing was imported"


class StoreUnavailable(DomainError):
    status, slug, title, exit_code = 503, "store-unavailable", "The store database is unavailable", 3
