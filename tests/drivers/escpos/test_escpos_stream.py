"""The emulated printer's ESC/POS parser: every command the drivers send, images skipped by
their declared length, and the same result however TCP splits the stream."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as s

from drivers.emulators.escpos_stream import EscposStream

STREAM = (
    b"\x1b@"                                    # init
    + b"\x1ba\x01\x1b!\x38Big\n"               # centre; bold + double height + double width
    + b"\x1ba\x00\x1b!\x00\x1b-\x01under\n"   # left, normal, underline
    + b"\x1bt\x10\x80 cp1252\n"                # code page 16 (CP1252): 0x80 is the euro sign
    + b"\x1dv0\x00\x02\x00\x02\x00" + b"\x0a\x1b\x1d\x10"  # raster 2x2 bytes: LF/ESC/GS inside
    + b"\x1b*\x21\x01\x00" + b"\x1b\x40\x0a"   # 24-dot bit image, one column (3 bytes)
    + b"\x1bD\x08\x10\x00"                     # tab stops, NUL-terminated
    + b"\x1dk\x02" + b"4006381333931\x00"      # EAN13, function A (NUL-terminated)
    + b"\x1dkI\x05{Babc"                       # CODE128, function B (length byte)
    + b"\x1d(k\x06\x001P0xyz" + b"\x1d(k\x03\x001Q0"  # QR: store "xyz", then print it
    + b"\x1bp\x01\x19\xfa"                     # drawer pulse pin 5, 50 ms on
    + b"\x10\x04\x04"                          # real-time status request (paper sensor)
    + b"\x1dVA\x03"                            # feed and full cut
)


def _effects(chunks: list[bytes]) -> tuple[list, list]:
    stream = EscposStream()
    realtime, effects = [], []
    for chunk in chunks:
        rt, fx = stream.feed(chunk)
        realtime += rt
        effects += fx
    return realtime, effects


def test_every_command_becomes_the_right_effect() -> None:
    realtime, effects = _effects([STREAM])
    lines = [arg for kind, arg in effects if kind == "line"]
    assert [ln.text for ln in lines] == ["Big", "under", "€ cp1252"]
    assert (lines[0].align, lines[0].bold, lines[0].double_height, lines[0].double_width) == (
        "center", True, True, True)
    assert lines[1].underline and lines[1].align == "left" and not lines[1].bold
    assert [kind for kind, _ in effects if kind == "image"] == ["image", "image"]
    assert ("barcode", {"symbology": "EAN13", "data": "4006381333931"}) in effects
    assert ("barcode", {"symbology": "CODE128", "data": "abc"}) in effects
    assert ("qr", "xyz") in effects
    assert ("pulse", {"pin": 5, "on_ms": 50, "realtime": False}) in effects
    assert effects[-1] == ("cut", "full")
    assert realtime == [("status", 4)]
    assert not [e for e in effects if e[0] == "unknown"]


@settings(max_examples=200, deadline=None)
@given(cuts=s.lists(s.integers(0, len(STREAM)), max_size=12))
def test_the_split_of_the_byte_stream_does_not_matter(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)])]
    assert _effects(chunks) == _effects([STREAM])
