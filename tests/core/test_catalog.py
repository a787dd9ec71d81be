from datetime import UTC, datetime

import msgspec
import pytest

from core import catalog as importer
from core.catalog import (
    CSV_COLUMNS,
    CatalogImportError,
    parse_csv,
    parse_json,
    validate,
)
from schemas.catalog import CatalogDocument, PriceVersion, Product, TaxClass, Variant
from schemas.catalog_import import RowError

HEADER = ",".join(CSV_COLUMNS)
NO_STATE = {"known_tax_classes": {}, "known_skus": {}, "known_barcodes": {}}


def csv_text(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def product(product_id="p1", tax_class="standard", variants=None, **kw) -> Product:
    if variants is None:
        variants = (Variant(sku=product_id.upper()),)
    return Product(product_id=product_id, name="Thing", tax_class=tax_class, variants=variants, **kw)


def doc(*products: Product, prices=(), tax_classes=(TaxClass(code="standard", rate_ppm=190_000),)):
    return CatalogDocument(tax_classes=tax_classes, products=products, prices=tuple(prices))


def rejected(call, *args, **kwargs) -> list[RowError]:
    with pytest.raises(CatalogImportError) as info:
        call(*args, **kwargs)
    return info.value.errors


# --- CSV -----------------------------------------------------------------------------------


def test_csv_groups_variants_into_one_product():
    text = csv_text(
        "tshirt,Basic T-Shirt,standard,,TSHIRT-BLK-M,size=M;colour=black,4260123451028,1499,1,2026-01-01T00:00:00Z",
        "tshirt,Basic T-Shirt,standard,each,TSHIRT-BLK-L,size=L;colour=black,4260123451035;TS-BLK-L,1599,1,2026-01-01T00:00:00+01:00",
        "banana,Bananas,reduced,weight,BANANA,,4011,199,1,2026-01-01T00:00:00Z",
        "bag,Paper bag,standard,,BAG,,,,,",
    )
    parsed = parse_csv(text)

    tshirt, banana, bag = parsed.products
    assert (tshirt.product_id, tshirt.name, tshirt.tax_class) == ("tshirt", "Basic T-Shirt", "standard")
    assert tshirt.sold_by == "each"
    assert [v.sku for v in tshirt.variants] == ["TSHIRT-BLK-M", "TSHIRT-BLK-L"]
    assert tshirt.variants[0].attributes == {"size": "M", "colour": "black"}
    assert tshirt.variants[1].barcodes == ("4260123451035", "TS-BLK-L")
    assert banana.sold_by == "weight"
    assert bag.variants == (Variant(sku="BAG"),)
    assert [(p.sku, p.version, p.amount_minor) for p in parsed.prices] == [
        ("TSHIRT-BLK-M", 1, 1499),
        ("TSHIRT-BLK-L", 1, 1599),
        ("BANANA", 1, 199),
    ]
    assert parsed.prices[1].effective_at == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert parsed.tax_classes == ()


def test_csv_accepts_bom_any_column_order_quoted_cells_and_blank_lines():
    columns = list(reversed(CSV_COLUMNS))
    values = dict(zip(CSV_COLUMNS, ["p1", '"Tea, green"', "reduced", "", "TEA", "", "", "", "", ""]))
    text = "\ufeff" + ",".join(columns) + "\n\n" + ",".join(values[c] for c in columns) + "\n,,,,,,,,,\n"
    parsed = parse_csv(text)
    assert parsed.products[0].name == "Tea, green"


def test_csv_reports_every_bad_row_by_line_number():
    text = csv_text(
        "p1,Good,standard,,SKU-1,,4006381333931,100,1,2026-01-01T00:00:00Z",  # line 2
        "p2,Bad barcode,standard,,SKU-2,,4006381333932,100,1,2026-01-01T00:00:00Z",  # line 3
        "p3,Good,standard,,SKU-3,,,,,",  # line 4
        "p4,Half a price,standard,,SKU-4,,,100,,",  # line 5
        "p5,Naive time,standard,,SKU-5,,,100,1,2026-01-01T00:00:00",  # line 6
    )
    errors = rejected(parse_csv, text)
    assert sorted({e.row for e in errors}) == [3, 5, 6]
    by_row = {e.row: e for e in errors}
    assert by_row[3].field == "barcodes"
    assert "EAN-13 check digit should be 1, got 2" in by_row[3].message
    assert {e.field for e in errors if e.row == 5} == {"price_version", "effective_at"}
    assert by_row[6].field == "effective_at"


def test_csv_rows_of_one_product_must_agree():
    text = csv_text(
        "p1,Tea,reduced,,TEA-S,,,,,",
        "p1,Tea,standard,,TEA-L,,,,,",
    )
    message = "product 'p1' has tax_class 'reduced' on line 2, this row says 'standard'"
    assert rejected(parse_csv, text) == [RowError(row=3, field="tax_class", message=message)]


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("p 1,Tea,reduced,,TEA,,,,,", "product_id"),
        ("p1,,reduced,,TEA,,,,,", "name"),
        ("p1,Tea,reduced,kg,TEA,,,,,", "sold_by"),
        ("p1,Tea,reduced,,,,,,,", "sku"),
        ("p1,Tea,reduced,,TEA,size,,,,", "attributes"),
        ("p1,Tea,reduced,,TEA,size=S;size=M,,,,", "attributes"),
        ("p1,Tea,reduced,,TEA,,,12.50,1,2026-01-01T00:00:00Z", "price_minor"),
        ("p1,Tea,reduced,,TEA,,,1250,0,2026-01-01T00:00:00Z", "price_version"),
        ("p1,Tea,reduced,,TEA,,,1250,1,1 Jan 2026", "effective_at"),
        ("p1,Tea,reduced,,TEA,,,,", ""),  # wrong number of fields
    ],
)
def test_csv_row_errors_name_the_column(row, field):
    errors = rejected(parse_csv, csv_text(row))
    assert [(e.row, e.field) for e in errors] == [(2, field)]


def test_csv_row_numbers_count_physical_lines_of_quoted_cells():
    text = csv_text(
        'p1,"Tea\nwith a two-line name",reduced,,TEA,,,,,',  # lines 2-3
        "p2,Coffee,reduced,,COFFEE,,123456,,,",  # line 4
    )
    assert [e.row for e in rejected(parse_csv, text)] == [4]


@pytest.mark.parametrize(
    "text",
    ["", "product_id,name\np1,Tea\n", HEADER + ",extra\n"],
)
def test_csv_needs_the_exact_header(text):
    errors = rejected(parse_csv, text)
    assert len(errors) == 1 and errors[0].row == 1


def test_csv_row_limit(monkeypatch):
    monkeypatch.setattr(importer, "MAX_ROWS", 2)
    rows = [f"p{i},Tea,reduced,,TEA-{i},,,,," for i in range(3)]
    parse_csv(csv_text(*rows[:2]))
    assert rejected(parse_csv, csv_text(*rows))[0].message == "more than 2 data rows"


def test_size_limit(monkeypatch):
    monkeypatch.setattr(importer, "MAX_IMPORT_BYTES", 10)
    assert "limit" in rejected(parse_csv, csv_text())[0].message
    assert "limit" in rejected(parse_json, b'{"products": []}')[0].message


def test_error_report_is_capped(monkeypatch):
    monkeypatch.setattr(importer, "MAX_REPORTED_ERRORS", 2)
    errors = rejected(parse_csv, csv_text(*["p 1,Tea,reduced,,TEA,,,,,"] * 5))
    assert [e.row for e in errors] == [2, 3, 0]
    assert errors[-1].message == "3 more error(s) not shown"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('p1,"Tea"x,reduced,,TEA,,,,,', "CSV is malformed"),
        ("p1,Tea\ud800,reduced,,TEA,,,,,", "not valid Unicode"),
    ],
)
def test_csv_that_cannot_be_read_is_rejected(row, message):
    [error] = rejected(parse_csv, csv_text(row))
    assert message in error.message


# --- JSON ----------------------------------------------------------------------------------


def test_json_shape_error_reports_msgspec_path():
    tea = {"product_id": "p1", "name": "Tea", "tax_class": "standard", "variants": [{"sku": "TEA"}]}
    cup = {
        "product_id": "p2",
        "name": "Cup",
        "tax_class": "standard",
        "variants": [{"sku": "CUP", "barcodes": ["4006381333931", "not a barcode"]}],
    }
    data = msgspec.json.encode({"products": [tea, cup]})
    [error] = rejected(parse_json, data)
    assert (error.row, error.field) == (2, "products[1].variants[0].barcodes[1]")


def test_json_bad_check_digit_reports_path_from_validate():
    cup = {
        "product_id": "p1",
        "name": "Cup",
        "tax_class": "standard",
        "variants": [{"sku": "CUP", "barcodes": ["4006381333931", "4006381333932"]}],
    }
    data = msgspec.json.encode({"tax_classes": [{"code": "standard", "rate_ppm": 190000}], "products": [cup]})
    [error] = rejected(validate, parse_json(data), **NO_STATE)
    assert (error.row, error.field) == (1, "products[0].variants[0].barcodes[1]")
    assert "EAN-13 check digit should be 1, got 2" in error.message


@pytest.mark.parametrize(
    "data",
    [b"{", b"[]", b'{"surprise": 1}', b'{"prices": [{"sku": "A"}]}'],
)
def test_json_malformed_or_wrong_shape(data):
    assert len(rejected(parse_json, data)) == 1


# --- cross-checks --------------------------------------------------------------------------


def test_validate_normalizes_barcodes():
    variant = Variant(sku="PB", barcodes=("036000291452", "x-1"))
    checked = validate(doc(product(variants=(variant,))), **NO_STATE)
    assert checked.products[0].variants[0].barcodes == ("0036000291452", "X-1")


def test_duplicate_barcode_across_products_is_rejected_even_in_another_form():
    first = product("p1", variants=(Variant(sku="A", barcodes=("036000291452",)),))
    second = product("p2", variants=(Variant(sku="B", barcodes=("0036000291452",)),))
    [error] = rejected(validate, doc(first, second), **NO_STATE)
    assert (error.row, error.field) == (2, "products[1].variants[0].barcodes[0]")
    assert "products[0].variants[0].barcodes[0]" in error.message


def test_barcode_already_mapped_to_another_sku_is_rejected():
    mine = product("p1", variants=(Variant(sku="A", barcodes=("036000291452",)),))
    state = {**NO_STATE, "known_barcodes": {"0036000291452": "OTHER"}}
    [error] = rejected(validate, doc(mine), **state)
    assert "already belongs to SKU 'OTHER'" in error.message
    # Re-importing a barcode onto the SKU that already has it is fine.
    validate(doc(mine), **{**NO_STATE, "known_barcodes": {"0036000291452": "A"}})


def test_unknown_tax_class_is_rejected_and_known_one_accepted():
    [error] = rejected(validate, doc(product(tax_class="luxury")), **NO_STATE)
    assert (error.row, error.field) == (1, "products[0].tax_class")
    validate(doc(product(tax_class="luxury")), **{**NO_STATE, "known_tax_classes": {"luxury": 250_000}})


def test_sku_rules():
    twice = doc(product("p1", variants=(Variant(sku="A"),)), product("p2", variants=(Variant(sku="A"),)))
    assert [e.field for e in rejected(validate, twice, **NO_STATE)] == ["products[1].variants[0].sku"]
    moved = doc(product("p1", variants=(Variant(sku="A"),)))
    [error] = rejected(validate, moved, **{**NO_STATE, "known_skus": {"A": "p9"}})
    assert "already belongs to product 'p9'" in error.message
    validate(moved, **{**NO_STATE, "known_skus": {"A": "p1"}})


def test_product_needs_a_variant_and_a_unique_id():
    errors = rejected(validate, doc(product("p1", variants=()), product("p2"), product("p2")), **NO_STATE)
    assert [e.field for e in errors] == [
        "products[0].variants",
        "products[2].product_id",
        "products[2].variants[0].sku",
    ]


def test_price_rules_collect_every_error():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    prices = [
        PriceVersion(sku="P1", version=1, amount_minor=100, effective_at=at),
        PriceVersion(sku="NOPE", version=1, amount_minor=100, effective_at=at),
        PriceVersion(sku="P1", version=1, amount_minor=200, effective_at=at),
        PriceVersion(sku="KNOWN", version=2, amount_minor=100, effective_at=datetime(2026, 1, 1)),
    ]
    state = {**NO_STATE, "known_skus": {"KNOWN": "p0"}}
    errors = rejected(validate, doc(product("p1"), prices=prices), **state)
    assert [(e.row, e.field) for e in errors] == [
        (2, "prices[1].sku"),
        (3, "prices[2].version"),
        (4, "prices[3].effective_at"),
    ]


def test_duplicate_tax_class_in_document_is_rejected():
    tax = (TaxClass(code="standard", rate_ppm=190_000), TaxClass(code="standard", rate_ppm=200_000))
    [error] = rejected(validate, doc(product(), tax_classes=tax), **NO_STATE)
    assert error.field == "tax_classes[1].code"


def test_csv_then_validate_round_trip():
    text = csv_text(
        "pb,Peanut butter,reduced,,PB,,036000291452,449,1,2026-01-01T00:00:00Z",
        "pb,Peanut butter,reduced,,PB-XL,size=XL,,899,1,2026-01-01T00:00:00Z",
    )
    checked = validate(parse_csv(text), **{**NO_STATE, "known_tax_classes": {"reduced": 70_000}})
    assert checked.products[0].variants[0].barcodes == ("0036000291452",)
    assert len(checked.prices) == 2
