"""Barcode rules: GS1 check digits, classification, and the one lookup key per product code.

Pure functions, no I/O. Invariants:

- `classify` accepts exactly the codes the catalog may store; everything else raises
  `InvalidBarcode` with a message a person can act on.
- `normalize` is the *only* way a code becomes a storage or lookup key, so the importer and
  the scan path cannot drift apart. It is idempotent: `normalize(normalize(c)) == normalize(c)`.
- Every representation of one GTIN (UPC-A, its EAN-13 form, GTIN-14 with leading zeros) has
  the same key, so a product is found whichever form the scanner or HQ happens to send.
"""

from __future__ import annotations

import re
from typing import Literal

BarcodeKind = Literal["ean13", "upca", "ean8", "gtin14", "plu", "instore"]

MAX_BARCODE_CHARS = 32  # matches schemas.catalog.BarcodeText
# An AIM symbology identifier is "]" + symbology char + modifier char, e.g. "]E0" (EAN/UPC).
AIM_PREFIX_CHARS = 3

_GTIN_KINDS: dict[int, tuple[BarcodeKind, str]] = {
    8: ("ean8", "EAN-8"),
    12: ("upca", "UPC-A"),
    13: ("ean13", "EAN-13"),
    14: ("gtin14", "GTIN-14"),
}
_PLU_LENGTHS = (4, 5)
# ASCII only on purpose: str.isdigit() and \d also accept non-ASCII digits ("٣", "²").
_DIGITS = re.compile(r"[0-9]+")
_INSTORE = re.compile(r"[A-Za-z0-9-]+")
_HAS_ALNUM = re.compile(r"[A-Za-z0-9]")


class InvalidBarcode(ValueError):
    """A code that cannot be a catalog barcode; `str(exc)` is the human-readable reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def gtin_check_digit(body: str) -> int:
    """GS1 mod-10 check digit for `body` (all digits except the check digit), any length.

    Weights alternate 3, 1, 3, ... starting from the rightmost body digit, which is why
    the same digit works for a GTIN with or without leading zeros.
    """
    if not _DIGITS.fullmatch(body):
        raise InvalidBarcode(body, "check digit body must be one or more digits 0-9")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def classify(code: str) -> BarcodeKind:
    """Kind of an exact code (no whitespace, no AIM prefix: see `normalize` for raw scans)."""
    if not code:
        raise InvalidBarcode(code, "barcode is empty")
    if len(code) > MAX_BARCODE_CHARS:
        raise InvalidBarcode(code, f"barcode is {len(code)} characters; at most {MAX_BARCODE_CHARS}")
    if _DIGITS.fullmatch(code):
        return _classify_numeric(code)
    if not _INSTORE.fullmatch(code):
        raise InvalidBarcode(code, "barcode may contain only letters A-Z, digits and '-'")
    if not _HAS_ALNUM.search(code):
        raise InvalidBarcode(code, "in-store code needs at least one letter or digit")
    return "instore"


def _classify_numeric(code: str) -> BarcodeKind:
    if len(code) in _PLU_LENGTHS:
        return "plu"
    if len(code) not in _GTIN_KINDS:
        raise InvalidBarcode(
            code,
            f"a {len(code)}-digit barcode is neither a GTIN (8, 12, 13 or 14 digits) "
            "nor a PLU (4 or 5 digits)",
        )
    kind, label = _GTIN_KINDS[len(code)]
    expected = gtin_check_digit(code[:-1])
    # Restricted-circulation EAN-13s (prefix 20-29) still carry a GS1 check digit, so they
    # go through the same check and need no special case.
    if int(code[-1]) != expected:
        raise InvalidBarcode(code, f"{label} check digit should be {expected}, got {code[-1]}")
    return kind


def _strip_scan(raw: str) -> str:
    """Remove what scanners add around a code: whitespace/CR/LF and an AIM identifier."""
    code = raw.strip()
    if code.startswith("]") and len(code) > AIM_PREFIX_CHARS:
        code = code[AIM_PREFIX_CHARS:].strip()
    return code


def normalize(code: str) -> str:
    """Storage and lookup key for a stored or scanned code; raises `InvalidBarcode`.

    GTIN-12/13/14 become 13 digits when the value fits (UPC-A gets a leading "0", GTIN-14
    loses one leading "0"); a GTIN-14 whose indicator digit is not 0 keeps 14 digits.
    EAN-8 and PLU stay as they are; in-store codes are upper-cased.
    """
    code = _strip_scan(code)
    kind = classify(code)
    if kind == "instore":
        return code.upper()
    if kind in ("upca", "ean13", "gtin14"):
        gtin13 = code.rjust(13, "0") if len(code) <= 13 else code
        if len(gtin13) == 14 and gtin13[0] == "0":
            gtin13 = gtin13[1:]
        # GS1 reserves GTIN-13 prefix "00000" for EAN-8s written in 13 digits, so
        # "0000096385074" is EAN-8 96385074 and must share its key.
        if len(gtin13) == 13 and gtin13.startswith("00000"):
            return gtin13[5:]
        return gtin13
    return code
