"""Serial scanner framing: codes end with a configurable suffix (CR, LF or CR LF) and may start
with an AIM symbology identifier (`]` + code character + modifier digit, e.g. `]E0` EAN/UPC).

Pure functions over bytes; the driver keeps the unterminated rest between reads.
"""

from __future__ import annotations

SUFFIXES: dict[str, bytes] = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n"}
MAX_CODE_BYTES = 4_096

# AIM code characters (ISO/IEC 15424) of the symbologies a shop meets.
AIM_SYMBOLOGIES: dict[str, str] = {
    "A": "code39", "C": "code128", "E": "ean_upc", "F": "codabar", "G": "code93",
    "I": "itf", "L": "pdf417", "Q": "qr", "X": "other", "d": "datamatrix", "e": "gs1_databar",
}


def suffix_bytes(name: str) -> bytes:
    try:
        return SUFFIXES[name.lower()]
    except KeyError:
        raise ValueError(f"suffix must be one of {', '.join(SUFFIXES)}, not {name!r}") from None


def split_codes(buffer: bytes, suffix: bytes) -> tuple[list[bytes], bytes]:
    """Complete codes in `buffer` and the unterminated rest. Empty frames (a bare suffix, or
    the LF of a CR LF when the suffix is CR) are dropped; a rest longer than MAX_CODE_BYTES is
    line noise and is discarded so a scanner with the wrong suffix cannot grow memory."""
    parts = buffer.split(suffix)
    rest = parts.pop()
    codes = [p.strip(b"\r\n") for p in parts]
    if len(rest) > MAX_CODE_BYTES:
        rest = b""
    return [c for c in codes if c], rest


def parse_aim(code: str) -> tuple[str, str | None]:
    """(`data`, `symbology`): strips a leading AIM identifier and names the symbology."""
    if len(code) >= 3 and code[0] == "]" and code[2].isalnum():
        kind = AIM_SYMBOLOGIES.get(code[1], "other")
        if kind == "ean_upc":
            # ]E0 EAN-13/UPC-A (UPC-A arrives as 13 digits), ]E4 EAN-8.
            kind = "ean8" if code[2] == "4" else "ean13"
        return code[3:], kind
    return code, None


def encode(code: str, *, aim: str | None = "]E0", suffix: bytes = b"\r") -> bytes:
    """What a scanner configured with this prefix and suffix sends for `code`."""
    return ((aim or "") + code).encode("latin-1") + suffix
