"""Turning a printable `Document` into ESC/POS bytes with python-escpos's command builder.

python-escpos renders into an in-memory `Dummy` printer configured with the printer's capability
profile (code pages, cutter, barcode support); its bytes then go over our own transports, so the
driver keeps control of connections, status checks and timeouts. Pure: same document and profile,
same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from escpos.printer import Dummy

from schemas.printing import Barcode, Cut, Document, Feed, QrCode, Text

DEFAULT_PROFILE = "TM-T88V"


@dataclass(frozen=True, slots=True)
class Rendered:
    data: bytes
    lines: int  # text lines and feeds, for the lines_printed statistic
    cuts: int


# Control characters in text (a product named with an ESC or LF in it) would be commands to
# the printer: they print as spaces instead.
_NO_CONTROLS = {c: " " for c in [*range(0x20), 0x7F]}


def printable(text: str) -> str:
    return text.translate(_NO_CONTROLS)


def pulse_bytes(pin: int, on_ms: int, off_ms: int) -> bytes:
    """ESC p m t1 t2: m=0 pulses connector pin 2, m=1 pin 5; t1/t2 are in 2 ms units."""
    if pin not in (2, 5):
        raise ValueError(f"drawer pin must be 2 or 5, not {pin}")
    t1 = max(1, min(255, on_ms // 2))
    t2 = max(t1, min(255, off_ms // 2))  # ESC/POS: the off time is at least the on time
    printer = Dummy(profile=DEFAULT_PROFILE)
    printer.cashdraw([0x1B, 0x70, 0 if pin == 2 else 1, t1, t2])
    return printer.output


def realtime_pulse_bytes(pin: int, on_ms: int) -> bytes:
    """DLE DC4 1 m t: a pulse the printer executes on receipt, even while off line with the
    paper out or the cover open (ESC p would wait in the buffer); t is in 100 ms units (1..8).
    python-escpos has no builder for it, hence the bytes here."""
    if pin not in (2, 5):
        raise ValueError(f"drawer pin must be 2 or 5, not {pin}")
    return bytes((0x10, 0x14, 1, 0 if pin == 2 else 1, max(1, min(8, on_ms // 100))))


def render(document: Document, profile: str = DEFAULT_PROFILE) -> Rendered:
    p = Dummy(profile=profile)
    p.hw("INIT")
    lines = cuts = 0
    for el in document.elements:
        if isinstance(el, Text):
            p.set(align=el.align, bold=el.bold, underline=1 if el.underline else 0,
                  double_height=el.double_height, double_width=el.double_width,
                  normal_textsize=not (el.double_height or el.double_width))
            p.textln(printable(el.text))
            lines += 1
        elif isinstance(el, Feed):
            p.ln(el.lines)
            lines += el.lines
        elif isinstance(el, Barcode):
            code = printable(el.data)
            if el.symbology == "CODE128":
                code = "{B" + code  # code set B: printable ASCII, as check_barcode requires
            # The hardware path directly: the public `barcode()` prints its choice to stdout.
            p._hw_barcode(code, el.symbology, 64, 2, "BELOW", "A", True, None, True)
            p.ln()
            lines += 1
        elif isinstance(el, QrCode):
            p.set(align="center")
            p.qr(printable(el.data), size=el.module_dots, native=True)
            p.ln()
            lines += 1
        elif isinstance(el, Cut):
            p.cut(mode="PART" if el.partial else "FULL")
            cuts += 1
    p.set(align="left", bold=False, underline=0, normal_textsize=True)
    return Rendered(p.output, lines, cuts)
