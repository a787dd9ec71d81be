"""DLE EOT decoding against the ESC/POS bit layout, and the emulator's encoding of it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as s

from drivers.escpos import status as st


def test_ready_printer_bytes_decode_to_no_causes() -> None:
    # 0x12 / 0x12 / 0x12: only the fixed bits (1 and 4) on: online, no cause, paper present.
    decoded = st.decode(0x12, 0x12, 0x12, drawer_open_when_high=True)
    assert decoded.causes() == []
    assert decoded.can_print


def test_spec_bits_map_to_causes() -> None:
    assert st.decode(0x1A, 0x32, 0x7E, drawer_open_when_high=True).causes()[:2] == [
        "paper_out", "paper_near_end"]  # offline + paper-end stop + near end + end sensor
    assert st.decode(0x1A, 0x16, 0x12, drawer_open_when_high=True).causes() == ["cover_open"]
    assert st.decode(0x1A, 0x52, 0x12, drawer_open_when_high=True).causes() == ["error"]
    assert st.decode(0x1A, 0x12, 0x12, drawer_open_when_high=True).causes() == ["offline"]
    assert st.decode(0x12, 0x12, 0x1E, drawer_open_when_high=True).causes() == ["paper_near_end"]
    assert st.decode(0x12, 0x12, 0x1E, drawer_open_when_high=True).can_print


@pytest.mark.parametrize("open_when_high", [True, False])
def test_drawer_polarity_is_a_setting(open_when_high: bool) -> None:
    high = st.decode(0x16, 0x12, 0x12, drawer_open_when_high=open_when_high)
    low = st.decode(0x12, 0x12, 0x12, drawer_open_when_high=open_when_high)
    assert high.drawer_open is open_when_high
    assert low.drawer_open is not open_when_high


@pytest.mark.parametrize("value", [0x00, 0x13, 0x92, 0x02, 0xFF])
def test_non_status_bytes_are_refused(value: int) -> None:
    with pytest.raises(ValueError, match="not a status byte"):
        st.decode(value, 0x12, 0x12, drawer_open_when_high=False)


@settings(max_examples=200, deadline=None)
@given(offline=s.booleans(), pin3=s.booleans(), cover=s.booleans(), paper_out=s.booleans(),
       near_end=s.booleans(), error=s.booleans(), polarity=s.booleans())
def test_encode_decode_round_trip(offline: bool, pin3: bool, cover: bool, paper_out: bool,
                                  near_end: bool, error: bool, polarity: bool) -> None:
    table = st.encode(offline=offline, pin3_high=pin3, cover_open=cover, paper_out=paper_out,
                      paper_near_end=near_end, error=error)
    assert all(st.is_status_byte(v) for v in table.values())
    d = st.decode(table[1], table[2], table[4], drawer_open_when_high=polarity)
    assert d.cover_open is cover and d.paper_out is paper_out and d.error is error
    assert d.drawer_open is (pin3 == polarity)
    causes = d.causes()
    assert ("paper_out" in causes) is paper_out
    assert ("cover_open" in causes) is cover
    assert d.can_print is not (offline or cover or paper_out or error)
    assert ("offline" in causes) is (offline and not (cover or paper_out or error))
