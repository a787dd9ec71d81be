from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.barcode import classify, normalize
from core.catalog import parse_json, validate

DEMO = Path(__file__).resolve().parents[3] / "edge" / "demo_catalog.json"


@pytest.fixture(scope="module")
def demo():
    return validate(
        parse_json(DEMO.read_bytes()), known_tax_classes={}, known_skus={}, known_barcodes={}
    )


def variants_by_sku(doc):
    return {v.sku: (p, v) for p in doc.products for v in p.variants}


def test_demo_parses_and_validates_with_an_empty_store(demo):
    assert {t.code: t.rate_ppm for t in demo.tax_classes} == {
        "standard": 190_000,
        "reduced": 70_000,
        "zero": 0,
    }
    assert len(demo.products) >= 25


def test_every_demo_sku_has_price_version_1_from_new_year_2026(demo):
    skus = set(variants_by_sku(demo))
    assert {p.sku for p in demo.prices} == skus
    new_year = datetime(2026, 1, 1, tzinfo=UTC)
    assert all(p.version == 1 and p.effective_at == new_year for p in demo.prices)


@pytest.mark.parametrize(
    ("sku", "scan", "amount_minor", "sold_by"),
    [
        ("MILK-1L", "4006381333931", 119, "each"),
        ("BREAD-500G", "4260123450014", 249, "each"),
        ("COFFEE-250G", "4004170200006", 499, "each"),
        ("BANANA", "4011", 199, "weight"),
        ("TSHIRT-BLK-M", "4260123451028", 1499, "each"),
        ("PEANUT-BUTTER-340G", "051500241639", 449, "each"),  # scanned as UPC-A
        ("GUM-MINT", "40024318", 99, "each"),
        ("CROISSANT", "bakery-croissant", 119, "each"),
    ],
)
def test_demo_items_other_tests_rely_on(demo, sku, scan, amount_minor, sold_by):
    product, variant = variants_by_sku(demo)[sku]
    assert normalize(scan) in variant.barcodes
    assert product.sold_by == sold_by
    assert {p.sku: p.amount_minor for p in demo.prices}[sku] == amount_minor


def test_demo_covers_every_barcode_kind_and_variant_matrices():
    raw = parse_json(DEMO.read_bytes())
    kinds = {classify(code) for p in raw.products for v in p.variants for code in v.barcodes}
    assert kinds >= {"ean13", "upca", "ean8", "plu", "instore"}
    products = {p.product_id: p for p in raw.products}
    assert len(products["tshirt-basic"].variants) == 6
    assert {frozenset(v.attributes) for v in products["jeans-slim"].variants} == {
        frozenset({"waist", "length"})
    }
    assert sum(p.sold_by == "weight" for p in raw.products) == 3
