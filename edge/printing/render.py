"""Receipt layout: a pure function from the order's receipt data to a printable `Document`.

Invariants: no text line is wider than the printer's columns (long names wrap, amounts are
never cut); amounts are printed exactly as `ReceiptView` formatted them; a reprint says so.
The driver turns the document into ESC/POS bytes for the printer's profile.

Card tenders: the tender work adds card details to receipt tenders; whatever of `card_brand`,
`masked_pan` and `approval_code` a tender line carries is printed, and their absence is fine.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from core.money import format_minor
from drivers.escpos.document import printable
from schemas.api import ReceiptView
from schemas.fiscal import FiscalStamp
from schemas.printing import Barcode, Cut, Document, Element, QrCode, Text


@dataclass(frozen=True, slots=True)
class ReceiptLayout:
    columns: int = 42
    header: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()
    code: Literal["qr", "code128", "none"] = "qr"

    def __post_init__(self) -> None:
        assert 24 <= self.columns <= 64, self.columns


def wrap(text: str, width: int) -> list[str]:
    text = printable(text)
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def two_columns(left: str, right: str, width: int) -> list[str]:
    """`left` flush left and `right` flush right on one line when they fit; otherwise `left`
    wraps and `right` ends the last line (it is never shortened)."""
    left, right = printable(left), printable(right)[:width]
    room = width - len(right) - 1
    if room < 1:
        return [*wrap(left, width), right.rjust(width)]
    lines = wrap(left, room) if len(left) > room else [left]
    last = lines[-1]
    return [*lines[:-1], last + " " * (width - len(last) - len(right)) + right]


def _rule(width: int, char: str = "-") -> Text:
    return Text(char * width)


def _money_rows(label: str, amount: str, width: int, **style: bool) -> list[Element]:
    return [Text(row, **style) for row in two_columns(label, amount, width)]


def _is_zero(amount_text: str) -> bool:
    return not any(ch in "123456789" for ch in amount_text)


def receipt_document(r: ReceiptView, layout: ReceiptLayout, *, reprint: bool = False) -> Document:
    w = layout.columns
    out: list[Element] = []
    for line in layout.header:
        out += [Text(row, align="center") for row in wrap(line, w)]
    out += [Text(row, align="center", bold=True, double_height=True)
            for row in wrap(r.store_name, w)]
    if reprint:
        out.append(Text("*** COPY ***", align="center", bold=True))
    out += [Text(row) for row in two_columns(f"Store {r.store_id}", f"Lane {r.lane_id}", w)]
    out.append(Text(r.local_time[:w]))
    out += [Text(row) for row in two_columns("Receipt", r.receipt_number, w)]
    out.append(_rule(w))

    for ln in r.lines:
        out += [Text(row) for row in two_columns(ln.text, ln.amount_text, w)]
        if ln.qty_text and not ln.qty_text.startswith("1 x "):
            out += [Text("  " + row) for row in wrap(ln.qty_text, w - 2)]
    out.append(_rule(w))

    out += _money_rows("Subtotal", r.subtotal_text, w)
    if r.discount_text:
        out += _money_rows("Discount", r.discount_text, w)
    out += _money_rows("TOTAL", r.total_text, w, bold=True, double_height=True)
    if r.promotion_saving_text:
        out += _money_rows("You saved", r.promotion_saving_text, w)
    out += _money_rows("of which tax" if r.taxes else "Tax", r.tax_text, w)
    if r.taxes:
        out.append(Text(_tax_row("Rate", "Net", "Tax", w)))
        for t in r.taxes:
            out.append(Text(_tax_row(t.rate_text, _minor(t.net_minor, r.currency),
                                     _minor(t.tax_minor, r.currency), w)))
    out.append(_rule(w))

    for t in r.tenders:
        out += _money_rows(t.text, t.amount_text, w)
        card = " ".join(x for x in (getattr(t, "card_brand", None),
                                    getattr(t, "masked_pan", None)) if x)
        if card:
            out += [Text("  " + row) for row in wrap(card, w - 2)]
        approval = getattr(t, "approval_code", None)
        if approval:
            out.append(Text(f"  Approval {approval}"[:w]))
    if not _is_zero(r.change_text):
        out += _money_rows("Change", r.change_text, w, bold=True)

    if r.fiscal is not None:
        out += fiscal_block(r.fiscal, w, r.store_id)

    if layout.footer:
        out.append(_rule(w))
        for line in layout.footer:
            out += [Text(row, align="center") for row in wrap(line, w)]
    if layout.code == "qr":
        out.append(QrCode(r.receipt_number))
    elif layout.code == "code128":
        out.append(Barcode(r.receipt_number[:64]))
    if r.fiscal is not None and r.fiscal.signed:  # after the receipt's own code: a lane
        out.append(QrCode(fiscal_qr(r.fiscal, r.store_id)))  # scanning for returns finds it first
    out.append(Cut())
    return Document(out)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def fiscal_block(stamp: FiscalStamp, width: int, register_id: str) -> list[Element]:
    """The signature fields a fiscal receipt prints, or the outage notice."""
    out: list[Element] = [_rule(width)]
    rows = [("Transaction", str(stamp.transaction_number)), ("Start", _iso(stamp.start_ms)),
            ("End", _iso(stamp.end_ms))]
    if not stamp.signed:
        out += [Text(row) for k, v in rows for row in two_columns(k, v, width)]
        out += [Text(row, bold=True) for row in
                wrap("Signing unit unavailable: this receipt is not signed", width)]
        return out
    rows += [("Signature counter", str(stamp.signature_counter)),
             ("Algorithm", stamp.algorithm or ""), ("Signer serial", stamp.serial or ""),
             ("Register", register_id)]
    out += [Text(row) for k, v in rows for row in two_columns(k, v, width)]
    out += [Text(row) for row in wrap(f"Signature {stamp.signature_b64}", width)]
    return out


def fiscal_qr(stamp: FiscalStamp, register_id: str) -> str:
    """The fiscal QR payload, in the order of the German receipt QR code (DSFinV-K annex):
    V0;register;process type;process data;transaction;signature counter;start;end;
    algorithm;time format;signature;public key."""
    return ";".join(["V0", register_id, "Kassenbeleg-V1", "", str(stamp.transaction_number),
                     str(stamp.signature_counter), _iso(stamp.start_ms), _iso(stamp.end_ms),
                     stamp.algorithm or "", "utcTime", stamp.signature_b64 or "",
                     stamp.public_key_b64 or ""])


def _minor(amount_minor: int, currency: str) -> str:
    # Tax rows leave the currency out to fit three columns; the totals above carry it.
    return format_minor(amount_minor, currency).rsplit(" ", 1)[0]


def _tax_row(rate: str, net: str, tax: str, width: int) -> str:
    third = width // 3
    return (rate[:third].ljust(third) + net.rjust(third) + tax.rjust(width - 2 * third))[:width]
