"""Turning a printable `Document` into ESC/POS bytes.

Text is encoded here, through ONE code page per printer (`PC858` or `WPC1252`, from the printer's
config), selected once with `ESC t n` right after `ESC @`, the page number taken from the
printer's python-escpos capability profile. python-escpos's own text path is not used for text:
its "magic" encoder switches code page mid-line for any character the current page lacks (a `€`
sends ESC t 15, ISO 8859-7, which many printers do not have and print as garbage). A character
the chosen page lacks prints as its unaccented base letter when that exists there, else `?`, so
a line keeps its width. Styles are sent only when they change (`ESC @` leaves the defaults: left,
not bold, not underlined, normal size). Barcodes, QR codes and cuts still come from python-escpos's
command builder (an in-memory `Dummy` printer). The bytes go over our own transports, so the
driver keeps control of connections, status checks and timeouts. Pure: same document, profile
and code page, same bytes.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Literal

from schemas.printing import Align, Barcode, Cut, Document, Feed, QrCode, Text

DEFAULT_PROFILE = "TM-T88V"

CodePage = Literal["PC858", "WPC1252"]
DEFAULT_CODE_PAGE: CodePage = "PC858"
# Our name (Epson's) -> (python-escpos profile's name, Python codec).
CODE_PAGES: dict[str, tuple[str, str]] = {"PC858": ("CP858", "cp858"),
                                          "WPC1252": ("CP1252", "cp1252")}

_ESC, _GS = b"\x1b", b"\x1d"
_INIT = _ESC + b"@"
_ALIGN = {"left": 0, "center": 1, "right": 2}


def Dummy(profile: str):  # noqa: N802 - stands for python-escpos's class
    """python-escpos's in-memory printer (its command builder). Imported at the first document
    or pulse: python-escpos's printer module brings PIL, python-barcode, qrcode, pyusb and
    pyserial (about 15 MB and a fifth of a second), which a daemon that has printed nothing
    yet does not need. (The package's import loaded python-escpos' printer database first.)"""
    from escpos.printer import Dummy as EscposDummy

    return EscposDummy(profile=profile)


@dataclass(frozen=True, slots=True)
class Rendered:
    data: bytes
    lines: int  # text lines and feeds, for the lines_printed statistic
    cuts: int


@cache
def code_page_number(profile: str, code_page: str) -> int:
    """`n` of `ESC t n` for `code_page` on a printer of `profile`; ValueError when the profile
    does not list that page (choose the other one, or another profile)."""
    if code_page not in CODE_PAGES:
        raise ValueError(f"code page must be one of {sorted(CODE_PAGES)}, not {code_page!r}")
    from escpos.capabilities import get_profile  # loaded with the package (preload)

    pages = get_profile(profile).get_code_pages()  # {name: number as text}
    name = CODE_PAGES[code_page][0]
    if name not in pages:
        raise ValueError(f"printer profile {profile} has no code page {code_page}")
    return int(pages[name])


@cache
def _encode_char(char: str, codec: str) -> bytes:
    try:
        return char.encode(codec)
    except UnicodeEncodeError:
        base = "".join(c for c in unicodedata.normalize("NFKD", char)
                       if not unicodedata.combining(c))
        try:
            if len(base) == 1:
                return base.encode(codec)
        except UnicodeEncodeError:
            pass
        return b"?"


def encode_text(text: str, code_page: str = DEFAULT_CODE_PAGE) -> bytes:
    """`text` (already `printable`) in the bytes of `code_page`, one byte per character."""
    codec = CODE_PAGES[code_page][1]
    try:
        return text.encode(codec)
    except UnicodeEncodeError:
        return b"".join(_encode_char(c, codec) for c in text)


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


@dataclass(slots=True)
class _Style:
    """What the printer currently has; `ESC @` sets exactly these defaults."""

    align: Align | None = "left"  # None: unknown (a barcode command may have changed it)
    bold: bool = False
    underline: bool = False
    size: int = 0  # ESC ! n bits: 0x10 double height, 0x20 double width

    def change(self, align: Align, bold: bool, underline: bool, size: int) -> bytes:
        out = b""
        if size != self.size:
            out += _ESC + b"!" + bytes((size,))
        if bold != self.bold:
            out += _ESC + b"E" + bytes((int(bold),))
        if underline != self.underline:
            out += _ESC + b"-" + bytes((int(underline),))
        if align != self.align:
            out += _ESC + b"a" + bytes((_ALIGN[align],))
        self.align, self.bold, self.underline, self.size = align, bold, underline, size
        return out


def render(document: Document, profile: str = DEFAULT_PROFILE,
           code_page: str = DEFAULT_CODE_PAGE) -> Rendered:
    p = Dummy(profile=profile)
    p._raw(_INIT + _ESC + b"t" + bytes((code_page_number(profile, code_page),)))
    style = _Style()
    lines = cuts = 0
    for el in document.elements:
        if isinstance(el, Text):
            size = (0x10 if el.double_height else 0) | (0x20 if el.double_width else 0)
            p._raw(style.change(el.align, el.bold, el.underline, size)
                   + encode_text(printable(el.text), code_page) + b"\n")
            lines += 1
        elif isinstance(el, Feed):
            p._raw(b"\n" * el.lines)
            lines += el.lines
        elif isinstance(el, Barcode):
            code = printable(el.data)
            if el.symbology == "CODE128":
                code = "{B" + code  # code set B: printable ASCII, as check_barcode requires
            # The hardware path directly: the public `barcode()` prints its choice to stdout.
            p._hw_barcode(code, el.symbology, 64, 2, "BELOW", "A", True, None, True)
            style.align = "center"  # align_ct=True sent ESC a 1
            p._raw(b"\n")  # not p.ln(): text through the magic encoder sends ESC t
            lines += 1
        elif isinstance(el, QrCode):
            p._raw(style.change("center", style.bold, style.underline, style.size))
            p.qr(printable(el.data), size=el.module_dots, native=True)
            p._raw(b"\n")  # not p.ln(): text through the magic encoder sends ESC t
            lines += 1
        elif isinstance(el, Cut):
            p.cut(mode="PART" if el.partial else "FULL")
            cuts += 1
    # Leave the printer as ESC @ would, for whatever is sent next without one.
    p._raw(style.change("left", False, False, 0))
    return Rendered(p.output, lines, cuts)
