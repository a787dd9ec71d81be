"""Incremental ESC/POS parser of the emulated printer: bytes in, effects out.

It understands what printers are sent in practice: ESC @, text in the selected code page
(python-escpos's capability tables name them), ESC ! / E / G / - / a styles, feeds, GS V cuts,
ESC p and DLE DC4 drawer pulses, GS k barcodes (function A and B), GS ( k QR codes, and raster
or bit images, which are skipped by their declared length. A command split across reads waits
for its remaining bytes, so the result never depends on how TCP or a tty cut the stream.
Real-time requests (DLE EOT, DLE DC4) come out separately: a printer executes them at once,
even while stopped.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any

from drivers.escpos.capabilities import preload

preload()  # before escpos is imported

from escpos.capabilities import get_profile  # noqa: E402
from escpos.codepages import CodePages  # noqa: E402

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10

# Fixed parameter counts after ESC x / GS x / FS x (commands with a data block are special-cased).
_ESC_ARGS = {
    ord("!"): 1, ord("E"): 1, ord("G"): 1, ord("-"): 1, ord("a"): 1, ord("t"): 1, ord("M"): 1,
    ord("R"): 1, ord("{"): 1, ord("V"): 1, ord("2"): 0, ord("3"): 1, ord("d"): 1, ord("J"): 1,
    ord("e"): 1, ord("p"): 3, ord("="): 1, ord("c"): 2, ord(" "): 1, ord("$"): 2, ord("\\"): 2,
    ord("U"): 1, ord("r"): 1, ord("i"): 0, ord("m"): 0, ord("B"): 2, ord("L"): 0, ord("S"): 0,
    ord("T"): 1, ord("W"): 8, ord("u"): 1, ord("v"): 0, ord("%"): 1, ord("?"): 1, ord("@"): 0,
}
_GS_ARGS = {
    ord("!"): 1, ord("B"): 1, ord("H"): 1, ord("h"): 1, ord("w"): 1, ord("f"): 1, ord("L"): 2,
    ord("W"): 2, ord("P"): 2, ord("a"): 1, ord("b"): 1, ord("$"): 2, ord("\\"): 2, ord("I"): 1,
    ord("r"): 1, ord("/"): 1, ord("T"): 1, ord("^"): 3, ord(":"): 0,
}
_FS_ARGS = {ord("p"): 2, ord("."): 0, ord("&"): 0, ord("C"): 1, ord("!"): 1, ord("-"): 1,
            ord("S"): 2, ord("W"): 1}
_BARCODE_NAMES = {0: "UPC-A", 1: "UPC-E", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF",
                  6: "NW7", 65: "UPC-A", 66: "UPC-E", 67: "EAN13", 68: "EAN8", 69: "CODE39",
                  70: "ITF", 71: "NW7", 72: "CODE93", 73: "CODE128", 74: "GS1-128"}


@dataclass
class PrintedLine:
    text: str
    align: str = "left"
    bold: bool = False
    underline: bool = False
    double_height: bool = False
    double_width: bool = False


class _Incomplete(Exception):
    """The command at the cursor needs more bytes than have arrived."""


@dataclass
class _Style:
    align: str = "left"
    bold: bool = False
    underline: bool = False
    double_height: bool = False
    double_width: bool = False
    codec: str = "cp437"


Effect = tuple[str, Any]  # ("line", PrintedLine) | ("cut", mode) | ("pulse", {...}) | ...
Realtime = tuple[str, Any]  # ("status", n) | ("pulse", {...})


class EscposStream:
    """Incremental ESC/POS parser of one connection: bytes in, effects and real-time requests
    out. Commands split across TCP segments wait for their remaining bytes."""

    def __init__(self, profile: str = "TM-T88V") -> None:
        self._buf = bytearray()
        self._style = _Style()
        self._text = bytearray()  # bytes of the current line not yet decoded
        self._line = ""  # decoded part of the current line (code pages may change mid-line)
        self._qr_data = ""
        self._pages = {int(v): k for k, v in get_profile(profile).get_code_pages().items()}

    def feed(self, data: bytes) -> tuple[list[Realtime], list[Effect]]:
        self._buf += data
        realtime: list[Realtime] = []
        effects: list[Effect] = []
        pos = 0
        while pos < len(self._buf):
            try:
                pos = self._one(pos, realtime, effects)
            except _Incomplete:
                break
        del self._buf[:pos]
        return realtime, effects

    def _need(self, pos: int, count: int) -> bytes:
        if pos + count > len(self._buf):
            raise _Incomplete
        return bytes(self._buf[pos:pos + count])

    def _decode_pending(self) -> None:
        if self._text:
            self._line += codecs.decode(bytes(self._text), self._style.codec, errors="replace")
            self._text.clear()

    def _flush_line(self, effects: list[Effect]) -> None:
        s = self._style
        self._decode_pending()
        text, self._line = self._line, ""
        effects.append(("line", PrintedLine(text, s.align, s.bold, s.underline,
                                            s.double_height, s.double_width)))

    def _one(self, pos: int, rt: list[Realtime], fx: list[Effect]) -> int:
        b = self._buf[pos]
        if b >= 0x20:
            self._text.append(b)
            return pos + 1
        if b == 0x0A:
            self._flush_line(fx)
            return pos + 1
        if b == 0x09:
            self._text += b"    "
            return pos + 1
        if b == DLE:
            return self._dle(pos, rt, fx)
        if b == ESC:
            return self._esc(pos, fx)
        if b == GS:
            return self._gs(pos, fx)
        if b == FS:
            cmd = self._need(pos + 1, 1)[0]
            if cmd == ord("("):
                p_l, p_h = self._need(pos + 2, 2)
                return pos + 4 + p_l + p_h * 256
            if cmd not in _FS_ARGS:
                fx.append(("unknown", cmd))
            return pos + 2 + _FS_ARGS.get(cmd, 0)
        return pos + 1  # CR, FF, NUL, BEL and other controls print nothing here

    def _dle(self, pos: int, rt: list[Realtime], fx: list[Effect]) -> int:
        cmd = self._need(pos + 1, 1)[0]
        if cmd == 0x04:  # EOT n: transmit real-time status
            rt.append(("status", self._need(pos + 2, 1)[0]))
            return pos + 3
        if cmd == 0x14:  # DC4 fn m t: real-time pulse when fn = 1
            fn, m, t = self._need(pos + 2, 3)
            if fn == 1:
                rt.append(("pulse", {"pin": 2 if m == 0 else 5, "on_ms": t * 100,
                                     "realtime": True}))
            return pos + 5
        if cmd == 0x05:  # ENQ n: real-time request (error recovery); nothing to emulate
            return pos + 3
        fx.append(("unknown", cmd))
        return pos + 1

    def _esc(self, pos: int, fx: list[Effect]) -> int:
        cmd = self._need(pos + 1, 1)[0]
        s = self._style
        if cmd == ord("D"):  # tab positions, NUL-terminated
            end = self._buf.find(0, pos + 2)
            if end < 0:
                raise _Incomplete
            return end + 1
        if cmd == ord("*"):  # bit image: m nL nH then n (8-dot) or 3n (24-dot) columns
            m, n_l, n_h = self._need(pos + 2, 3)
            size = (n_l + n_h * 256) * (3 if m in (32, 33) else 1)
            self._need(pos + 5, size)
            fx.append(("image", size))
            return pos + 5 + size
        if cmd not in _ESC_ARGS:
            fx.append(("unknown", cmd))
            return pos + 2
        args = self._need(pos + 2, _ESC_ARGS[cmd])
        end = pos + 2 + len(args)
        if cmd == ord("@"):
            self._text.clear()
            self._line = ""
            self._style = _Style()
        elif cmd == ord("!"):
            mode = args[0]
            s.bold, s.double_height = bool(mode & 0x08), bool(mode & 0x10)
            s.double_width, s.underline = bool(mode & 0x20), bool(mode & 0x80)
        elif cmd in (ord("E"), ord("G")):
            s.bold = bool(args[0] & 1)
        elif cmd == ord("-"):
            s.underline = args[0] in (1, 2, 49, 50)
        elif cmd == ord("a"):
            s.align = {0: "left", 48: "left", 1: "center", 49: "center", 2: "right",
                       50: "right"}.get(args[0], s.align)
        elif cmd == ord("t"):
            self._decode_pending()
            s.codec = self._codec(args[0])
        elif cmd == ord("d"):
            if self._text or self._line:
                self._flush_line(fx)
            for _ in range(args[0]):
                self._flush_line(fx)
        elif cmd == ord("p"):
            fx.append(("pulse", {"pin": 2 if args[0] in (0, 48) else 5, "on_ms": args[1] * 2,
                                 "realtime": False}))
        elif cmd in (ord("i"), ord("m")):
            fx.append(("cut", "partial"))
        return end

    def _codec(self, page: int) -> str:
        name = self._pages.get(page)
        try:
            python = CodePages.get_encoding(name).get("python_encode") if name else None
        except KeyError:
            python = None
        return python or "cp437"

    def _gs(self, pos: int, fx: list[Effect]) -> int:
        cmd = self._need(pos + 1, 1)[0]
        if cmd == ord("V"):
            m = self._need(pos + 2, 1)[0]
            fx.append(("cut", "full" if m in (0, 48, 65, 97, 103) else "partial"))
            return pos + 3 + (1 if m in (65, 66, 97, 98, 103, 104) else 0)
        if cmd == ord("k"):
            return self._barcode(pos, fx)
        if cmd == ord("("):
            fn_class = self._need(pos + 2, 1)[0]
            p_l, p_h = self._need(pos + 3, 2)
            body = self._need(pos + 5, p_l + p_h * 256)
            if fn_class == ord("k") and len(body) >= 2 and body[0] == 49:  # cn 49: QR code
                if body[1] == 80:  # store data (m = 48, then the data)
                    self._qr_data = body[3:].decode("utf-8", errors="replace")
                elif body[1] == 81:  # print the stored symbol
                    fx.append(("qr", self._qr_data))
            return pos + 5 + len(body)
        if cmd == ord("8"):  # GS 8 L p1..p4: graphics data with a 4-byte length
            p = self._need(pos + 3, 4)
            size = p[0] + (p[1] << 8) + (p[2] << 16) + (p[3] << 24)
            self._need(pos + 7, size)
            fx.append(("image", size))
            return pos + 7 + size
        if cmd == ord("v"):  # GS v 0 m xL xH yL yH d...: raster image, x bytes by y dots
            _, _, x_l, x_h, y_l, y_h = self._need(pos + 2, 6)
            size = (x_l + x_h * 256) * (y_l + y_h * 256)
            self._need(pos + 8, size)
            fx.append(("image", size))
            return pos + 8 + size
        if cmd == ord("*"):  # GS * x y: define downloaded bit image, x*y*8 bytes
            x, y = self._need(pos + 2, 2)
            self._need(pos + 4, x * y * 8)
            return pos + 4 + x * y * 8
        if cmd not in _GS_ARGS:
            fx.append(("unknown", cmd))
            return pos + 2
        return pos + 2 + len(self._need(pos + 2, _GS_ARGS[cmd]))

    def _barcode(self, pos: int, fx: list[Effect]) -> int:
        m = self._need(pos + 2, 1)[0]
        if m <= 6:  # function A: data up to NUL
            end = self._buf.find(0, pos + 3)
            if end < 0:
                raise _Incomplete
            data, nxt = bytes(self._buf[pos + 3:end]), end + 1
        else:  # function B: a length byte, then the data
            n = self._need(pos + 3, 1)[0]
            data, nxt = self._need(pos + 4, n), pos + 4 + n
        text = data.decode("ascii", errors="replace")
        if m == 73 and text[:2] in ("{A", "{B", "{C"):
            text = text[2:]  # CODE128 code-set selector, not part of the payload
        fx.append(("barcode", {"symbology": _BARCODE_NAMES.get(m, str(m)), "data": text}))
        return nxt
