"""The store daemon's refusals shared by several domains. Each is a `core.errors.DomainError`
kind, mapped once to a problem at the HTTP edge (`edge.api.problems`) and to an exit code at
the CLI edge; a domain's own refusals live in its package."""

from __future__ import annotations

from core.errors import Conflict, InvalidInput, Unavailable
from core.errors import Forbidden as _Forbidden


class Forbidden(_Forbidden):
    title = "Not allowed for this lane"


class UnknownItem(InvalidInput):
    slug, title = "unknown-item", "No product matches this SKU or barcode"


class ManagerRequired(Forbidden):
    slug, title = "manager-approval-required", "A manager must approve this"


class CartClosed(Conflict):
    slug, title = "cart-closed", "The cart is no longer open"


class PriceLockExpired(Conflict):
    slug, title = "price-lock-expired", "Price lock expired on some lines"


class TenderInsufficient(Conflict):
    slug, title = "tender-insufficient", "Tendered amount does not cover the total"


class EmptyCart(Conflict):
    slug, title = "empty-cart", "The cart has no lines"


class CatalogRejected(InvalidInput):
    slug, title = "catalog-rejected", "Catalog import rejected; nothing was imported"


class StoreUnavailable(Unavailable):
    slug, title = "store-unavailable", "The store database is unavailable"
