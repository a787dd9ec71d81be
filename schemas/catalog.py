"""Catalog contracts: tax classes, products with variants and barcodes, price versions.

These are the shapes HQ sends down and the import files (JSON, CSV) are validated into.
Money is integer minor units; tax rates are parts per million (200_000 = 20 %).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
AmountMinor = Annotated[int, msgspec.Meta(ge=0, le=10**12)]
RatePpm = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
BarcodeText = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z-]+$")]

SoldBy = Literal["each", "weight"]


class TaxClass(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: Code
    rate_ppm: RatePpm
    name: str = ""


class Variant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku: Code
    attributes: dict[str, str] = {}
    barcodes: tuple[BarcodeText, ...] = ()


class Product(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product_id: Code
    name: Name
    tax_class: Code
    variants: tuple[Variant, ...]
    # "weight": priced per kilogram, sold in milli-units (grams); "each": whole units.
    sold_by: SoldBy = "each"


class PriceVersion(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku: Code
    # Monotonic per SKU; (sku, version) identifies a price forever.
    version: Annotated[int, msgspec.Meta(ge=1)]
    # Per unit for "each" products, per 1000 milli-units (kg) for "weight" products.
    amount_minor: AmountMinor
    effective_at: datetime


class CatalogDocument(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One import: applied all-or-nothing."""

    tax_classes: tuple[TaxClass, ...] = ()
    products: tuple[Product, ...] = ()
    prices: tuple[PriceVersion, ...] = ()
