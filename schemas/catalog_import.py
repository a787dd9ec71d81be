"""Catalog import error contract: what a rejected import reports, embedded in API responses.

An import is all-or-nothing, so a rejection lists every problem found (up to a cap), each
pointing at where it is in the submitted file.
"""

from __future__ import annotations

import msgspec


class RowError(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # CSV: 1-based line number in the file (header = 1, first data row = 2).
    # JSON: 1-based index within its section (products, prices, tax_classes).
    # 0: the error concerns the whole document (size, syntax, header).
    row: int
    # CSV: column name. JSON: path such as "products[3].variants[0].barcodes[1]" (0-based).
    field: str
    message: str
