"""Receipt layout: widths, content, card details when present, and the bytes the printer
parses back into the same lines."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as s

from drivers.emulators.escpos_stream import EscposStream
from drivers.escpos.document import printable, render
from edge.printing.render import ReceiptLayout, receipt_document, two_columns
from schemas import api
from schemas.printing import Cut, Document, QrCode, Text


class CardTender(api.ReceiptLine, frozen=True):
    """A tender line as the card-payment work extends it."""

    card_brand: str | None = None
    masked_pan: str | None = None
    approval_code: str | None = None


def receipt(names: list[str] | None = None, tenders=None, change: str = "2.62 EUR",
            discount: str | None = None) -> api.ReceiptView:
    return api.ReceiptView(
        store_name="NovaPOS Demo Store", store_id="store-001", lane_id="lane-1",
        receipt_number="store-001-0000007", order_id="o-7", local_time="2026-03-02 11:00:00 CET",
        business_date="2026-03-02", currency="EUR",
        lines=[api.ReceiptLine(n, "2 x 1.19 EUR", "2.38 EUR") for n in (names or ["Milk 1L"])]
        + [api.ReceiptLine("Banana", "1.234 kg 1.99 EUR", "2.46 EUR")],
        taxes=[api.ReceiptTaxRow("7 %", 452, 32)], subtotal_text="4.84 EUR",
        discount_text=discount, tax_text="0.32 EUR", total_text="4.84 EUR",
        tenders=tenders or [api.ReceiptLine("CASH", "", "10.00 EUR")], change_text=change,
        barcode="store-001-0000007",
    )


def texts(doc: Document) -> list[str]:
    return [el.text for el in doc.elements if isinstance(el, Text)]


def test_receipt_has_header_lines_totals_tax_tender_change_footer_and_code() -> None:
    layout = ReceiptLayout(columns=42, header=("Corner Shop GmbH",), footer=("Thanks!",))
    doc = receipt_document(receipt(discount="-0.50 EUR"), layout)
    lines = texts(doc)
    assert lines[0] == "Corner Shop GmbH" and lines[1] == "NovaPOS Demo Store"
    assert "Milk 1L" + " " * (42 - 7 - 8) + "2.38 EUR" in lines
    assert "  2 x 1.19 EUR" in lines and "  1.234 kg 1.99 EUR" in lines
    assert any(ln.startswith("Discount") and ln.endswith("-0.50 EUR") for ln in lines)
    total = next(el for el in doc.elements if isinstance(el, Text) and el.text.startswith("TOTAL"))
    assert total.bold and total.double_height and total.text.endswith("4.84 EUR")
    assert any(ln.startswith("7 %") and ln.endswith("0.32") for ln in lines)
    assert any(ln.startswith("Change") and ln.endswith("2.62 EUR") for ln in lines)
    assert lines[-1] == "Thanks!"
    assert doc.elements[-2] == QrCode("store-001-0000007") and doc.elements[-1] == Cut()
    assert "*** COPY ***" not in lines
    assert "*** COPY ***" in texts(receipt_document(receipt(), layout, reprint=True))


def test_card_details_print_when_the_tender_has_them_and_zero_change_does_not() -> None:
    card = CardTender("CARD", "", "4.84 EUR", card_brand="VISA", masked_pan="**** **** **** 4242",
                      approval_code="A1B2C3")
    lines = texts(receipt_document(receipt(tenders=[card], change="0.00 EUR"), ReceiptLayout()))
    assert "  VISA **** **** **** 4242" in lines and "  Approval A1B2C3" in lines
    assert not any(ln.startswith("Change") for ln in lines)


@settings(max_examples=150, deadline=None)
@given(names=s.lists(s.text(s.characters(min_codepoint=32, max_codepoint=0x24F), min_size=1,
                            max_size=120), min_size=1, max_size=5),
       columns=s.sampled_from([32, 42, 48]), header=s.text(max_size=64))
def test_no_line_is_wider_than_the_paper_and_amounts_stay_whole(
    names: list[str], columns: int, header: str,
) -> None:
    doc = receipt_document(receipt(names), ReceiptLayout(columns=columns, header=(header,)))
    assert all(len(t) <= columns for t in texts(doc))
    # Control characters would be printer commands: none reaches the printer.
    assert not any(ch < " " or ch == "\x7f" for t in texts(doc) for ch in t)
    assert sum(t.endswith("2.38 EUR") for t in texts(doc)) == len(names)


@settings(max_examples=100, deadline=None)
@given(left=s.text(max_size=200), right=s.text(min_size=1, max_size=20),
       width=s.integers(24, 64))
def test_two_columns_keeps_the_right_column_whole(left: str, right: str, width: int) -> None:
    rows = two_columns(left, right, width)
    assert all(len(r) <= width for r in rows)
    assert rows[-1].endswith(printable(right)[:width])


def test_a_product_name_cannot_smuggle_printer_commands() -> None:
    doc = receipt_document(receipt(["Evil\x1bp\x00\x19\xfa\x1dV\x00Milk"]), ReceiptLayout())
    _, effects = EscposStream().feed(render(doc).data)
    assert [kind for kind, _ in effects if kind in ("pulse", "cut")] == ["cut"]  # the real one


def test_the_printer_parses_the_rendered_bytes_back_into_the_same_lines() -> None:
    doc = receipt_document(receipt(["Käse Gouda jung", "Crème fraîche 30 %"]),
                           ReceiptLayout(columns=48, header=("Grüße aus Köln",)))
    _, effects = EscposStream().feed(render(doc).data)
    printed = [arg.text for kind, arg in effects if kind == "line" and arg.text]
    assert printed == [t for t in texts(doc) if t]
    assert ("qr", "store-001-0000007") in effects and ("cut", "full") in effects
    # What the queue stores for a test print decodes back to the same document.
    assert msgspec.json.decode(msgspec.json.encode(doc), type=Document) == doc
