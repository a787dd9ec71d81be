"""Catalog imports: parse JSON or CSV into a `CatalogDocument` and cross-check it, all-or-nothing.

`parse_json` / `parse_csv` check shape and per-row rules; `validate` checks the rules that need
the whole document or the store's current state. The store's state comes in as plain mappings,
so this module stays pure and the caller owns the transaction that applies the result.

Invariants:
- Nothing is returned unless the whole input is good. Otherwise `CatalogImportError` lists every
  problem found (at most `MAX_REPORTED_ERRORS`), each with where it is in the file.
- Inputs are bounded: `MAX_IMPORT_BYTES` of text, `MAX_ROWS` per section.
- A document returned by `validate` holds barcodes only as `barcode.normalize` keys.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from core import barcode
from schemas.catalog import CatalogDocument, PriceVersion, Product, TaxClass, Variant
from schemas.catalog_import import RowError

MAX_IMPORT_BYTES = 16 * 1024 * 1024
MAX_ROWS = 100_000
# A file with 100k bad rows should not produce a 100k-entry API response.
MAX_REPORTED_ERRORS = 1_000
# 10**18 fits SQLite's signed 64-bit integers; longer digit strings are refused before int().
_MAX_INT_DIGITS = 18

CSV_COLUMNS = (
    # Per product: repeated on each of its rows, and must agree.
    "product_id",
    "name",
    "tax_class",
    "sold_by",
    # Per variant.
    "sku",
    "attributes",
    "barcodes",
    # Optional price of the variant: all three or none.
    "price_minor",
    "price_version",
    "effective_at",
)
_PRICE_COLUMNS = CSV_COLUMNS[-3:]

# Field types come from the contracts themselves, so CSV and JSON enforce the same constraints.
_PRODUCT_TYPES = {f.name: f.type for f in msgspec.structs.fields(Product)}
_VARIANT_TYPES = {f.name: f.type for f in msgspec.structs.fields(Variant)}
_PRICE_TYPES = {f.name: f.type for f in msgspec.structs.fields(PriceVersion)}

_MSGSPEC_AT = re.compile(r"^(?P<message>.*) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_SECTION_INDEX = re.compile(r"^[a-z_]+\[(\d+)\]")
_UNSIGNED = re.compile(r"[0-9]+")


class CatalogImportError(Exception):
    """The import was rejected as a whole; `errors` says every place that needs fixing."""

    def __init__(self, errors: list[RowError]) -> None:
        assert errors, "a rejected import must say why"
        self.errors = errors
        first = errors[0]
        super().__init__(
            f"catalog import rejected with {len(errors)} error(s); first: "
            f"row {first.row} {first.field}: {first.message}"
        )


class _Errors:
    """Collects row errors up to `MAX_REPORTED_ERRORS`, counting the ones it drops."""

    def __init__(self) -> None:
        self.items: list[RowError] = []
        self.dropped = 0

    def add(self, row: int, field_name: str, message: str) -> None:
        if len(self.items) < MAX_REPORTED_ERRORS:
            self.items.append(RowError(row=row, field=field_name, message=message))
        else:
            self.dropped += 1

    def raise_if_any(self) -> None:
        if not self.items:
            return
        errors = list(self.items)
        if self.dropped:
            errors.append(RowError(row=0, field="", message=f"{self.dropped} more error(s) not shown"))
        raise CatalogImportError(errors)


def _reject(message: str, field_name: str = "", row: int = 0) -> CatalogImportError:
    return CatalogImportError([RowError(row=row, field=field_name, message=message)])


def _check_size(size_bytes: int) -> None:
    if size_bytes > MAX_IMPORT_BYTES:
        raise _reject(f"import is {size_bytes} bytes; the limit is {MAX_IMPORT_BYTES} bytes (16 MiB)")


def _check_counts(doc: CatalogDocument) -> None:
    counts = {
        "tax_classes": len(doc.tax_classes),
        "products": len(doc.products),
        "variants": sum(len(p.variants) for p in doc.products),
        "prices": len(doc.prices),
    }
    for section, count in counts.items():
        if count > MAX_ROWS:
            raise _reject(f"{count} {section}; the limit is {MAX_ROWS}", section)


def _split_msgspec_error(exc: msgspec.MsgspecError) -> tuple[str, str]:
    """("Expected `int`, got `str`", "products[3].sku") from msgspec's "... - at `$.…`"."""
    match = _MSGSPEC_AT.match(str(exc))
    if match is None:
        return str(exc), ""
    return match["message"], match["path"].lstrip(".")


# --- JSON --------------------------------------------------------------------------------


def parse_json(data: bytes) -> CatalogDocument:
    """Decode a JSON catalog document; msgspec stops at the first shape error, so one is reported."""
    _check_size(len(data))
    try:
        doc = msgspec.json.decode(data, type=CatalogDocument)
    except msgspec.ValidationError as exc:
        message, path = _split_msgspec_error(exc)
        index = _SECTION_INDEX.match(path)
        raise _reject(message, path, int(index[1]) + 1 if index else 0) from None
    except msgspec.DecodeError as exc:
        raise _reject(str(exc)) from None
    _check_counts(doc)
    return doc


# --- CSV ---------------------------------------------------------------------------------


@dataclass
class _ProductRows:
    """A product as declared by its first CSV row, plus the variants of all its rows."""

    line: int
    name: str
    tax_class: str
    sold_by: str
    variants: list[Variant] = field(default_factory=list)
    variant_lines: list[int] = field(default_factory=list)


def parse_csv(text: str) -> CatalogDocument:
    """Parse one-row-per-variant CSV; rows sharing a product_id become one product."""
    return parse_csv_with_lines(text)[0]


def parse_csv_with_lines(text: str) -> tuple[CatalogDocument, dict[str, int]]:
    """`parse_csv`, plus where each product, variant and price came from: document path
    (`products[1].variants[0]`, `prices[3]`) -> CSV line, for `at_csv_lines`."""
    _check_size(len(text))  # characters <= bytes: refuses huge input before encoding it
    try:
        _check_size(len(text.encode("utf-8")))
    except UnicodeEncodeError as exc:
        # Lone surrogates (from a lossy decode) would only fail later, inside the store.
        raise _reject(f"text is not valid Unicode at character {exc.start}") from None
    # Spreadsheets often save UTF-8 with a byte-order mark that would corrupt the first column.
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    errors = _Errors()
    products: dict[str, _ProductRows] = {}
    prices: list[tuple[int, PriceVersion]] = []
    try:
        header = _read_header(reader)
        data_rows = 0
        previous_line = reader.line_num
        for record in reader:
            # Quoted cells may span lines, so a record starts right after the previous one.
            line, previous_line = previous_line + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            data_rows += 1
            if data_rows > MAX_ROWS:
                raise _reject(f"more than {MAX_ROWS} data rows", row=line)
            if len(record) != len(header):
                errors.add(line, "", f"expected {len(header)} fields, got {len(record)}")
                continue
            cells = {name: cell.strip() for name, cell in zip(header, record)}
            _parse_row(line, cells, products, prices, errors)
    except csv.Error as exc:
        errors.add(reader.line_num, "", f"CSV is malformed: {exc}")
    errors.raise_if_any()
    doc = CatalogDocument(
        products=tuple(
            Product(
                product_id=product_id,
                name=rows.name,
                tax_class=rows.tax_class,
                variants=tuple(rows.variants),
                sold_by=rows.sold_by,  # type: ignore[arg-type]  # checked against SoldBy
            )
            for product_id, rows in products.items()
        ),
        prices=tuple(price for _, price in prices),
    )
    lines: dict[str, int] = {}
    for i, rows in enumerate(products.values()):
        lines[f"products[{i}]"] = rows.line
        for j, line in enumerate(rows.variant_lines):
            lines[f"products[{i}].variants[{j}]"] = line
    for k, (line, _) in enumerate(prices):
        lines[f"prices[{k}]"] = line
    return doc, lines


def at_csv_lines(exc: CatalogImportError, lines: dict[str, int]) -> CatalogImportError:
    """The same errors, with `row` the CSV line of the most specific element named by each
    error's path (cross-checks in `validate` only know document paths)."""
    relabelled = []
    for err in exc.errors:
        best = max((key for key in lines if err.field == key or err.field.startswith(key + ".")),
                   key=len, default=None)
        row = lines[best] if best is not None else err.row
        relabelled.append(msgspec.structs.replace(err, row=row))
    return CatalogImportError(relabelled)


def _read_header(reader: Any) -> list[str]:
    first = next(reader, None)
    if first is None:
        raise _reject("the file is empty; a header row is required", row=1)
    header = [name.strip() for name in first]
    missing = [c for c in CSV_COLUMNS if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    repeated = sorted({c for c in header if header.count(c) > 1})
    problems = [
        f"{label}: {', '.join(names)}"
        for label, names in (("missing", missing), ("unknown", unknown), ("repeated", repeated))
        if names
    ]
    if problems:
        expected = ",".join(CSV_COLUMNS)
        raise _reject(f"bad header ({'; '.join(problems)}); expected {expected}", row=reader.line_num)
    return header


def _check(value: Any, type_: Any, line: int, column: str, errors: _Errors) -> bool:
    try:
        msgspec.convert(value, type_)
    except msgspec.ValidationError as exc:
        errors.add(line, column, _split_msgspec_error(exc)[0])
        return False
    return True


def _parse_row(
    line: int,
    cells: dict[str, str],
    products: dict[str, _ProductRows],
    prices: list[tuple[int, PriceVersion]],
    errors: _Errors,
) -> None:
    declared = {
        "name": cells["name"],
        "tax_class": cells["tax_class"],
        "sold_by": cells["sold_by"] or "each",
    }
    product_id = cells["product_id"]
    id_ok = _check(product_id, _PRODUCT_TYPES["product_id"], line, "product_id", errors)
    fields_ok = all(
        [_check(value, _PRODUCT_TYPES[name], line, name, errors) for name, value in declared.items()]
    )
    sku = cells["sku"]
    sku_ok = _check(sku, _VARIANT_TYPES["sku"], line, "sku", errors)
    attributes = _parse_attributes(line, cells["attributes"], errors)
    codes = tuple(code.strip() for code in cells["barcodes"].split(";") if code.strip())
    for code in codes:
        try:
            barcode.classify(code)
        except barcode.InvalidBarcode as exc:
            errors.add(line, "barcodes", f"{code!r}: {exc}")
    if sku_ok:
        price = _parse_price(line, sku, cells, errors)
        if price is not None:
            prices.append((line, price))
    if not id_ok:
        return
    rows = products.get(product_id)
    if rows is None:
        if not fields_ok:
            return
        rows = products[product_id] = _ProductRows(line=line, **declared)
    else:
        for name, value in declared.items():
            first_value = getattr(rows, name)
            if value != first_value:
                errors.add(
                    line,
                    name,
                    f"product {product_id!r} has {name} {first_value!r} on line {rows.line}, "
                    f"this row says {value!r}",
                )
    rows.variants.append(Variant(sku=sku, attributes=attributes, barcodes=codes))
    rows.variant_lines.append(line)


def _parse_attributes(line: int, text: str, errors: _Errors) -> dict[str, str]:
    """`size=M;colour=red` -> {"size": "M", "colour": "red"}; empty segments are ignored."""
    attributes: dict[str, str] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not key:
            errors.add(line, "attributes", f"expected name=value, got {part!r}")
        elif key in attributes:
            errors.add(line, "attributes", f"attribute {key!r} is given twice")
        else:
            attributes[key] = value
    return attributes


def _parse_price(line: int, sku: str, cells: dict[str, str], errors: _Errors) -> PriceVersion | None:
    given = [c for c in _PRICE_COLUMNS if cells[c]]
    if not given:
        return None  # a row may declare a variant without pricing it
    if len(given) < len(_PRICE_COLUMNS):
        for column in _PRICE_COLUMNS:
            if column not in given:
                errors.add(line, column, f"required because {', '.join(given)} is given")
        return None
    amount_minor = _parse_unsigned(line, "price_minor", cells["price_minor"], errors)
    version = _parse_unsigned(line, "price_version", cells["price_version"], errors)
    effective_at = _parse_effective_at(line, cells["effective_at"], errors)
    if amount_minor is None or version is None or effective_at is None:
        return None
    ok = all(
        [
            _check(amount_minor, _PRICE_TYPES["amount_minor"], line, "price_minor", errors),
            _check(version, _PRICE_TYPES["version"], line, "price_version", errors),
        ]
    )
    if not ok:
        return None
    return PriceVersion(sku=sku, version=version, amount_minor=amount_minor, effective_at=effective_at)


def _parse_unsigned(line: int, column: str, text: str, errors: _Errors) -> int | None:
    # Strict on purpose: "1.5", "-3", "1e3" and "12,50" are spreadsheet accidents, not prices.
    if not _UNSIGNED.fullmatch(text) or len(text) > _MAX_INT_DIGITS:
        errors.add(line, column, f"expected a whole number of at most {_MAX_INT_DIGITS} digits, got {text!r}")
        return None
    return int(text)


def _parse_effective_at(line: int, text: str, errors: _Errors) -> datetime | None:
    try:
        # Same RFC 3339 parser as the JSON path, so both formats accept the same timestamps.
        value = msgspec.convert(text, datetime)
    except msgspec.ValidationError:
        errors.add(line, "effective_at", f"expected an ISO 8601 timestamp with offset or Z, got {text!r}")
        return None
    if value.utcoffset() is None:
        errors.add(line, "effective_at", f"timestamp {text!r} needs a UTC offset or Z")
        return None
    return value


# --- cross-checks ------------------------------------------------------------------------


def validate(
    doc: CatalogDocument,
    *,
    known_tax_classes: Mapping[str, int],
    known_skus: Mapping[str, str],
    known_barcodes: Mapping[str, str],
) -> CatalogDocument:
    """Cross-check `doc` against itself and the store; return it with normalized barcodes.

    `known_tax_classes`: code -> rate_ppm; `known_skus`: sku -> product_id;
    `known_barcodes`: normalized barcode -> sku.
    """
    _check_counts(doc)
    errors = _Errors()
    tax_codes = _check_tax_classes(doc.tax_classes, errors)
    seen = _Seen(known_skus=known_skus, known_barcodes=known_barcodes)
    products = tuple(
        _check_product(i, product, tax_codes, known_tax_classes, seen, errors)
        for i, product in enumerate(doc.products)
    )
    _check_prices(doc.prices, seen.sku_paths, known_skus, errors)
    errors.raise_if_any()
    return msgspec.structs.replace(doc, products=products)


@dataclass
class _Seen:
    """What the document has declared so far, next to what the store already holds."""

    known_skus: Mapping[str, str]
    known_barcodes: Mapping[str, str]
    product_paths: dict[str, str] = field(default_factory=dict)  # product_id -> first path
    sku_paths: dict[str, str] = field(default_factory=dict)  # sku -> first path
    barcode_paths: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (sku, path)


def _check_tax_classes(tax_classes: tuple[TaxClass, ...], errors: _Errors) -> set[str]:
    paths: dict[str, str] = {}
    for i, tax_class in enumerate(tax_classes):
        path = f"tax_classes[{i}]"
        if tax_class.code in paths:
            message = f"tax class {tax_class.code!r} is also declared at {paths[tax_class.code]}"
            errors.add(i + 1, f"{path}.code", message)
        else:
            paths[tax_class.code] = path
    return set(paths)


def _check_product(
    index: int,
    product: Product,
    tax_codes: set[str],
    known_tax_classes: Mapping[str, int],
    seen: _Seen,
    errors: _Errors,
) -> Product:
    row, path = index + 1, f"products[{index}]"
    first_path = seen.product_paths.setdefault(product.product_id, path)
    if first_path != path:
        message = f"product {product.product_id!r} is also declared at {first_path}"
        errors.add(row, f"{path}.product_id", message)
    if not product.variants:
        errors.add(row, f"{path}.variants", "a product needs at least one variant")
    if product.tax_class not in tax_codes and product.tax_class not in known_tax_classes:
        errors.add(row, f"{path}.tax_class", f"unknown tax class {product.tax_class!r}")
    variants = tuple(
        _check_variant(row, f"{path}.variants[{j}]", product.product_id, variant, seen, errors)
        for j, variant in enumerate(product.variants)
    )
    return msgspec.structs.replace(product, variants=variants)


def _check_variant(
    row: int, path: str, product_id: str, variant: Variant, seen: _Seen, errors: _Errors
) -> Variant:
    sku = variant.sku
    first_path = seen.sku_paths.setdefault(sku, path)
    if first_path != path:
        errors.add(row, f"{path}.sku", f"SKU {sku!r} is also declared at {first_path}")
    owner = seen.known_skus.get(sku)
    if owner is not None and owner != product_id:
        errors.add(row, f"{path}.sku", f"SKU {sku!r} already belongs to product {owner!r}")
    normalized: list[str] = []
    for k, code in enumerate(variant.barcodes):
        code_path = f"{path}.barcodes[{k}]"
        try:
            key = barcode.normalize(code)
        except barcode.InvalidBarcode as exc:
            errors.add(row, code_path, f"{code!r}: {exc}")
            continue
        normalized.append(key)
        # Compared after normalizing: a UPC-A and its EAN-13 form are the same barcode.
        other_sku, other_path = seen.barcode_paths.setdefault(key, (sku, code_path))
        if other_path != code_path:
            message = f"barcode {key} is also used at {other_path} (SKU {other_sku!r})"
            errors.add(row, code_path, message)
        mapped_sku = seen.known_barcodes.get(key)
        if mapped_sku is not None and mapped_sku != sku:
            errors.add(row, code_path, f"barcode {key} already belongs to SKU {mapped_sku!r}")
    return msgspec.structs.replace(variant, barcodes=tuple(normalized))


def _check_prices(
    prices: tuple[PriceVersion, ...],
    doc_skus: Mapping[str, str],
    known_skus: Mapping[str, str],
    errors: _Errors,
) -> None:
    paths: dict[tuple[str, int], str] = {}
    for i, price in enumerate(prices):
        row, path = i + 1, f"prices[{i}]"
        if price.sku not in doc_skus and price.sku not in known_skus:
            errors.add(row, f"{path}.sku", f"unknown SKU {price.sku!r}")
        first_path = paths.setdefault((price.sku, price.version), path)
        if first_path != path:
            message = f"version {price.version} of SKU {price.sku!r} is also declared at {first_path}"
            errors.add(row, f"{path}.version", message)
        # A naive time would be read in whatever zone the till happens to run in.
        if price.effective_at.utcoffset() is None:
            errors.add(row, f"{path}.effective_at", "effective_at needs a UTC offset or Z")
