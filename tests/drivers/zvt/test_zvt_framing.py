"""ZVT serial framing: DLE stuffing, CRC, and the incremental frame parser."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.zvt.framing import (
    ACK,
    DLE,
    NAK,
    Control,
    Frame,
    FrameParser,
    crc16,
    decode_frame,
    encode_frame,
    stuff,
    unstuff,
)

# APDU-like payloads rich in DLE, STX and ETX bytes, where stuffing bugs hide.
payloads = st.binary(max_size=300) | st.lists(
    st.sampled_from([0x10, 0x02, 0x03, 0x06, 0x15, 0x00, 0xFF]), max_size=60).map(bytes)


def test_crc_is_ccitt_reflected_with_zero_init() -> None:
    assert crc16(b"123456789") == 0x2189  # the published check value of CRC-16/KERMIT


def test_frame_layout_and_crc_low_byte_first() -> None:
    frame = encode_frame(bytes.fromhex("800000"))
    crc = crc16(bytes.fromhex("800000") + b"\x03")
    assert frame == bytes.fromhex("1002 800000 1003") + bytes((crc & 0xFF, crc >> 8))
    assert encode_frame(b"\x10")[2:4] == b"\x10\x10"


@settings(max_examples=200)
@given(payloads)
def test_stuffing_round_trip_and_no_lone_dle(data: bytes) -> None:
    stuffed = stuff(data)
    assert unstuff(stuffed) == data
    assert stuffed.count(DLE) == 2 * data.count(DLE)
    assert decode_frame(encode_frame(data)) == data


@settings(max_examples=200)
@given(st.lists(payloads, min_size=1, max_size=4), st.data())
def test_parser_finds_every_frame_in_any_chunking(apdus: list[bytes], data: st.DataObject) -> None:
    stream = b"\x00\x41" + bytes((ACK,)) + b"".join(encode_frame(a) for a in apdus)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    parser = FrameParser()
    events = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        events += parser.feed(stream[start:end])
    assert events == [Control(ACK)] + [Frame(a) for a in apdus]


@settings(max_examples=300)
@given(payloads, st.data())
def test_a_corrupted_byte_never_passes_as_a_good_frame(apdu: bytes, data: st.DataObject) -> None:
    frame = bytearray(encode_frame(apdu))
    where = data.draw(st.integers(2, len(frame) - 1))
    frame[where] ^= data.draw(st.integers(1, 255))
    events = FrameParser().feed(bytes(frame) + bytes(8))
    frames = [e for e in events if isinstance(e, Frame)]
    assert all(f.apdu is None or f.apdu == apdu for f in frames)
    assert Frame(apdu) not in frames or frame == bytearray(encode_frame(apdu))


def test_controls_between_frames_are_reported() -> None:
    parser = FrameParser()
    assert parser.feed(bytes((NAK,)) + encode_frame(b"\x06\x0f\x00") + bytes((ACK,))) == [
        Control(NAK), Frame(b"\x06\x0f\x00"), Control(ACK)]
