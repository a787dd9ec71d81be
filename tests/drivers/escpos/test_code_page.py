"""Receipts are printed in one code page per printer (PC858 or WPC1252), selected once; every
character the demo catalog and the receipts use comes back out of an independent decoder
(tests/support/escpos_decode.py) as it went in; styles are sent only when they change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as s

from drivers.escpos.document import CODE_PAGES, code_page_number, encode_text, render
from drivers.escpos.printer import PrinterSettings
from edge.printing.render import ReceiptLayout, receipt_document
from schemas import api
from schemas.printing import Cut, Document, QrCode, Text
from tests.support.escpos_decode import decode

ROOT = Path(__file__).resolve().parents[3]
PAGES = sorted(CODE_PAGES)
# What a European store prints besides ASCII: the euro and pound signs, umlauts, accents, the
# sharp s, degree and section signs, guillemets.
EUROPEAN = "€£äöüÄÖÜßéèêëàâáçñíóúÉÈÀÇ°§«»µ½"


def _strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [x for v in node.values() for x in _strings(v)]
    if isinstance(node, list):
        return [x for v in node for x in _strings(v)]
    return []


def demo_catalog_text() -> list[str]:
    return _strings(json.loads((ROOT / "edge/demo_catalog.json").read_text(encoding="utf-8")))


def receipt(names: list[str]) -> api.ReceiptView:
    return api.ReceiptView(
        store_name="Café Müller Straße", store_id="store-001", lane_id="lane-1",
        receipt_number="store-001-0000007", order_id="o-7",
        local_time="2026-03-02 11:00:00 CET", business_date="2026-03-02", currency="EUR",
        lines=[api.ReceiptLine(n, "2 x 1.19 EUR", "2.38 EUR") for n in names],
        taxes=[api.ReceiptTaxRow("7 %", 452, 32)], subtotal_text="4.84 EUR",
        discount_text="-0.50 EUR", tax_text="0.32 EUR", total_text="4.84 EUR",
        tenders=[api.ReceiptLine("CASH", "", "10.00 EUR")], change_text="5.16 EUR",
        barcode="store-001-0000007")


def printed_lines(doc: Document, code_page: str) -> list[str]:
    decoded = decode(render(doc, code_page=code_page).data)
    assert decoded.pages_selected == [code_page_number("TM-T88V", code_page)]
    return decoded.lines


@pytest.mark.parametrize("code_page", PAGES)
def test_every_demo_catalog_and_receipt_character_prints_as_itself(code_page: str) -> None:
    names = demo_catalog_text() + ["Müsli € Deal", "Crème brûlée 2 × 1½", f"Mix {EUROPEAN}"]
    doc = receipt_document(receipt(names), ReceiptLayout(columns=42, header=("Ä € ß",),
                                                         footer=("Danke schön — à bientôt",)))
    want = [el.text for el in doc.elements if isinstance(el, Text)]
    got = [line for line in printed_lines(doc, code_page) if line]
    # "—" and "×" are not in PC858 or WPC1252 the same way: compare through encode_text's
    # documented fallback, and check separately that the European set is exact.
    fallback = [encode_text(t, code_page).decode(CODE_PAGES[code_page][1]) for t in want]
    assert got[:len(want)] == fallback
    for char in {c for t in want for c in t} & set(EUROPEAN + "".join(demo_catalog_text())):
        assert encode_text(char, code_page).decode(CODE_PAGES[code_page][1]) == char, char


@pytest.mark.parametrize("code_page", PAGES)
def test_a_euro_sign_does_not_switch_the_code_page(code_page: str) -> None:
    doc = Document([Text("Müsli"), Text("€-Deal 2 €"), Text("Straße"), Cut()])
    decoded = decode(render(doc, code_page=code_page).data)
    # One ESC t, right after ESC @, whatever the text holds.
    assert decoded.pages_selected == [code_page_number("TM-T88V", code_page)]
    assert render(doc, code_page=code_page).data.startswith(
        b"\x1b@\x1bt" + bytes(decoded.pages_selected))
    assert decoded.lines[:3] == ["Müsli", "€-Deal 2 €", "Straße"]


@given(s.text(s.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40))
def test_any_text_prints_in_the_chosen_page_at_the_same_width(text: str) -> None:
    for code_page in PAGES:
        decoded = decode(render(Document([Text(text)]), code_page=code_page).data)
        assert len(decoded.pages_selected) == 1
        assert len(decoded.lines[0]) == len(text)


def test_a_missing_character_prints_as_its_base_letter_or_a_question_mark() -> None:
    assert encode_text("Łódź ő …", "PC858").decode("cp858") == "?ódz o ?"


def test_styles_are_sent_only_when_they_change() -> None:
    doc = Document([Text("a"), Text("b"), Text("c", bold=True), Text("d", bold=True),
                    Text("e", align="center", double_height=True), Text("f"), QrCode("x"),
                    Cut()])
    decoded = decode(render(doc).data)
    styles = [c for c in decoded.commands
              if c[:1] == b"\x1b" and c[1:2] in (b"!", b"E", b"-", b"a")]
    # bold on for "c"; bold off, size and align for "e"; size and align back for "f"; align
    # center for the QR code; align left at the end. No `ESC ! 0`/`ESC E 0`/`ESC - 0` on
    # plain lines.
    assert len(styles) == 8, styles
    assert render(Document([Text("a"), Text("b")])).data == b"\x1b@\x1bt\x13a\nb\n"
    assert [s[1:] for s in decoded.styled[:6]] == [
        (False, False, 0, 0), (False, False, 0, 0), (True, False, 0, 0), (True, False, 0, 0),
        (False, False, 0x10, 1), (False, False, 0, 0)]


def test_a_profile_without_the_page_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="TM-U220 has no code page PC858"):
        PrinterSettings(profile="TM-U220", code_page="PC858")
    PrinterSettings(profile="TM-T88V", code_page="WPC1252")


def test_a_printer_configured_with_a_page_its_profile_lacks_refuses_to_start() -> None:
    from core.errors import ConfigError
    from drivers.device import MemoryStatistics
    from edge.printing.service import build_printer
    from edge.printing.settings import PrinterConfig

    pc = PrinterConfig(id="front", host="192.0.2.50", profile="TM-U220", code_page="PC858")
    with pytest.raises(ConfigError, match=r"front: printer profile TM-U220 has no code page PC858"):
        build_printer(pc, MemoryStatistics())
    ok = build_printer(PrinterConfig(id="front", host="192.0.2.50", code_page="WPC1252"),
                       MemoryStatistics())
    assert ok.settings.code_page == "WPC1252"
