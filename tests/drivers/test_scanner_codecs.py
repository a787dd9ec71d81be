"""Scanner decoding is pure and round-trips: what a scanner encodes, the decoder gives back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scanners import hidpos, serial_codec, wedge


def _decode(reports: list[bytes], layout: str) -> list[str]:
    decoder = wedge.WedgeDecoder(layout)
    out: list[str] = []
    for r in reports:
        out.extend(decoder.feed(r))
    return out


@pytest.mark.parametrize("layout", ["us", "de"])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_wedge_reports_decode_to_the_code_typed(layout: str, data) -> None:
    codes = data.draw(st.lists(st.text(alphabet=wedge.typeable(layout), min_size=1, max_size=40),
                               min_size=1, max_size=4))
    reports = [r for code in codes for r in wedge.encode(code, layout)]
    assert _decode(reports, layout) == codes


def test_layout_matters_a_german_scanner_read_as_us_swaps_y_and_z() -> None:
    reports = wedge.encode("Zyx-1", "de")
    assert _decode(reports, "de") == ["Zyx-1"]
    assert _decode(reports, "us") == ["Yzx/1"]


def test_held_keys_type_once_and_rollover_reports_type_nothing() -> None:
    a = bytes([0, 0, 0x04, 0, 0, 0, 0, 0])
    ab = bytes([0, 0, 0x04, 0x05, 0, 0, 0, 0])
    rollover = bytes([0, 0, 1, 1, 1, 1, 1, 1])
    enter = bytes([0, 0, 0x28, 0, 0, 0, 0, 0])
    # Keypad digits (scanners in keypad emulation) type digits.
    keypad_7 = bytes([0, 0, 0x5F, 0, 0, 0, 0, 0])
    release = bytes(8)
    assert _decode([a, ab, rollover, ab, release, keypad_7, release, enter, release], "us") == ["ab7"]


def test_a_character_the_layout_cannot_type_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be typed"):
        wedge.encode("ä", "us")
    with pytest.raises(ValueError, match="unknown keyboard layout"):
        wedge.WedgeDecoder("xx")


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=1, max_size=300).filter(lambda b: b[:1] != b"]"),
       st.sampled_from(["]E0", "]C0", "]Q1", "]d2"]))
def test_hid_pos_reports_reassemble_to_the_code(code: bytes, aim: str) -> None:
    reports = hidpos.encode_reports(code, aim)
    assert all(len(r) == hidpos.REPORT_BYTES and r[0] == hidpos.REPORT_ID for r in reports)
    assembler = hidpos.HidPosAssembler()
    results = [assembler.feed(r) for r in reports]
    assert results[:-1] == [None] * (len(reports) - 1)
    decoded, symbology = results[-1]
    assert decoded.encode("latin-1") == code
    assert symbology == serial_codec.parse_aim(aim + "x")[1]


def test_hid_pos_ignores_reports_that_are_not_scanned_data() -> None:
    assembler = hidpos.HidPosAssembler()
    assert assembler.feed(bytes([0x04]) + bytes(63)) is None
    assert assembler.feed(hidpos.encode_reports(b"4006381333931")[0]) == ("4006381333931", "ean13")


codes = st.text(alphabet="0123456789ABCXYZ-./", min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(codes, min_size=1, max_size=5), st.sampled_from(["cr", "lf", "crlf"]),
       st.lists(st.integers(1, 7), min_size=1, max_size=20))
def test_serial_frames_split_back_into_codes_however_the_bytes_arrive(
    sent: list[str], suffix: str, cuts: list[int]
) -> None:
    sfx = serial_codec.suffix_bytes(suffix)
    stream = b"".join(serial_codec.encode(c, aim="]E0", suffix=sfx) for c in sent)
    got, rest, pos, i = [], b"", 0, 0
    while pos < len(stream):  # deliver in arbitrary chunks, as a tty read does
        step = cuts[i % len(cuts)]
        done, rest = serial_codec.split_codes(rest + stream[pos:pos + step], sfx)
        got.extend(done)
        pos, i = pos + step, i + 1
    assert rest == b""
    assert [serial_codec.parse_aim(c.decode()) for c in got] == [(c, "ean13") for c in sent]


def test_aim_identifiers_name_the_symbology() -> None:
    assert serial_codec.parse_aim("]E412345670") == ("12345670", "ean8")
    assert serial_codec.parse_aim("]C0ABC-123") == ("ABC-123", "code128")
    assert serial_codec.parse_aim("4006381333931") == ("4006381333931", None)
    with pytest.raises(ValueError, match="suffix"):
        serial_codec.suffix_bytes("tab")
