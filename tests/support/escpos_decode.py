"""An ESC/POS decoder for tests, written from Epson's ESC/POS command reference, NOT from our
emulator (drivers/emulators/escpos_stream.py) or python-escpos: a second opinion on our bytes.

It knows the commands a receipt uses and refuses anything else, so a stray command or a code
page it does not know is a test failure rather than garbage text. Text bytes are decoded with
Python's codec for the page `ESC t n` selected (the table below is from the reference's
"character code table" list; `ESC @` selects page 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ESC, GS, LF = 0x1B, 0x1D, 0x0A

# ESC t n -> Python codec, from the ESC/POS reference (page 0 PC437 USA, 2 PC850 Multilingual,
# 16 WPC1252, 19 PC858 Euro).
PAGES = {0: "cp437", 2: "cp850", 16: "cp1252", 19: "cp858"}


class NotEscpos(ValueError):
    pass


@dataclass
class Decoded:
    lines: list[str] = field(default_factory=list)
    pages_selected: list[int] = field(default_factory=list)  # every ESC t n, in order
    commands: list[bytes] = field(default_factory=list)  # every command's leading bytes
    # (text, bold, underline, ESC ! n, align) of each printed line
    styled: list[tuple[str, bool, bool, int, int]] = field(default_factory=list)


def decode(data: bytes) -> Decoded:
    out = Decoded()
    page, bold, underline, mode, align = 0, False, False, 0, 0
    text = bytearray()
    i = 0

    def need(n: int) -> bytes:
        if i + n > len(data):
            raise NotEscpos(f"command at {i} truncated")
        return data[i:i + n]

    def end_line() -> None:
        line = bytes(text).decode(PAGES[page])
        out.lines.append(line)
        out.styled.append((line, bold, underline, mode, align))
        text.clear()

    while i < len(data):
        b = data[i]
        if b == LF:
            end_line()
            i += 1
        elif b == ESC:
            cmd = need(2)[1]
            out.commands.append(data[i:i + 2])
            if cmd == ord("@"):  # initialize: defaults, page 0
                page, bold, underline, mode, align = 0, False, False, 0, 0
                i += 2
            elif cmd == ord("t"):
                n = need(3)[2]
                if n not in PAGES:
                    raise NotEscpos(f"ESC t {n}: a code page this decoder (and many printers) "
                                    f"lacks")
                page = n
                out.pages_selected.append(n)
                i += 3
            elif cmd == ord("!"):
                mode = need(3)[2]
                i += 3
            elif cmd == ord("E"):
                bold = bool(need(3)[2] & 1)
                i += 3
            elif cmd == ord("-"):
                underline = need(3)[2] in (1, 2, 49, 50)
                i += 3
            elif cmd == ord("a"):
                align = need(3)[2] % 48
                i += 3
            elif cmd == ord("d"):  # print the buffer, feed n lines
                need(3)
                if text:
                    end_line()
                i += 3
            elif cmd == ord("p"):  # drawer pulse m t1 t2
                need(5)
                i += 5
            else:
                raise NotEscpos(f"unknown command ESC {cmd:#04x} at {i}")
        elif b == GS:
            cmd = need(2)[1]
            out.commands.append(data[i:i + 2])
            if cmd in (ord("!"), ord("h"), ord("w"), ord("H"), ord("f")):
                need(3)
                i += 3
            elif cmd == ord("V"):  # cut: m, and n for m 65/66
                m = need(3)[2]
                i += 4 if m in (65, 66, 97, 98, 103, 104) else 3
            elif cmd == ord("k"):  # barcode: m<=6 NUL-terminated, m>=65 length-prefixed
                m = need(3)[2]
                if m <= 6:
                    end = data.index(0, i + 3)
                    i = end + 1
                else:
                    n = need(4)[3]
                    need(4 + n)
                    i += 4 + n
            elif cmd == ord("("):  # GS ( fn pL pH data (QR: GS ( k)
                h = need(5)
                i += 5 + h[3] + 256 * h[4]
                if i > len(data):
                    raise NotEscpos("GS ( truncated")
            else:
                raise NotEscpos(f"unknown command GS {cmd:#04x} at {i}")
        elif b < 0x20 or b == 0x7F:
            raise NotEscpos(f"control byte {b:#04x} at {i} in text")
        else:
            text.append(b)
            i += 1
    if text:
        end_line()
    return out
