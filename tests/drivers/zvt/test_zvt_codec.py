"""ZVT codec: known bytes from the spec's layouts, round trips, and malformed input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.zvt import messages as m
from drivers.zvt.codec import (
    BMP_FIELDS,
    Apdu,
    Tlv,
    ZvtCodecError,
    decode_apdu,
    decode_bitmaps,
    encode_apdu,
    encode_bitmaps,
    tlv_decode,
    tlv_encode,
)

# --- known bytes ---------------------------------------------------------------------------------


def test_authorization_of_12_34_eur_has_the_spec_layout() -> None:
    raw = encode_apdu(m.authorization(1234, 978, "A1"))
    # 06 01, length, BMP 04 amount as 6 BCD bytes, BMP 49 currency 0978, BMP 06 TLV container
    assert raw[:2] == bytes.fromhex("0601")
    assert raw[3:10] == bytes.fromhex("04 000000001234")
    assert raw[10:13] == bytes.fromhex("49 0978")
    assert raw[13:] == bytes.fromhex("06 05 DF20 02") + b"A1"
    assert raw[2] == len(raw) - 3


def test_ack_and_registration_bytes() -> None:
    assert encode_apdu(m.ACK) == bytes.fromhex("800000")
    assert encode_apdu(m.registration("123456", 0x08, 978)) == bytes.fromhex(
        "0600 06 123456 08 0978")


def test_long_apdu_uses_ff_and_little_endian_length() -> None:
    raw = encode_apdu(Apdu(0x06, 0xD3, bytes(300)))
    assert raw[:5] == bytes.fromhex("06D3FF2C01")
    assert decode_apdu(raw) == Apdu(0x06, 0xD3, bytes(300))
    assert encode_apdu(Apdu(0x06, 0xD3, bytes(254)))[2] == 254  # still the short form


def test_masked_pan_is_llvar_bcd_with_e_for_masked_digits() -> None:
    raw = encode_bitmaps([(0x22, "4999EEEEEEEE123")])
    assert raw == bytes.fromhex("22 F0F8 4999EEEEEEEE123F")
    assert decode_bitmaps(raw) == [(0x22, "4999EEEEEEEE123")]


def test_status_information_parses_every_reference_field() -> None:
    fields = [
        (0x27, 0), (0x04, 995), (0x0B, 42), (0x87, 7), (0x29, "52500001"),
        (0x22, "5413EEEEEEEE0004"), (0x8A, 6), (0x19, m.PAYMENT_TYPE_OFFLINE),
        (0x3B, m.approval_bytes("A1B2C3")),
        (0x06, (Tlv(m.TAG_ECR_REF, b"order-9"), Tlv(m.TAG_OPERATION, b"\x01"))),
    ]
    info = m.parse_status_information(m.status_information(fields))
    assert (info.result_code, info.amount_minor, info.trace_no, info.receipt_no) == (0, 995, 42, 7)
    assert info.terminal_id == "52500001" and info.approval_code == "A1B2C3"
    assert m.display_pan(info.masked_pan or "") == "5413********0004"
    assert info.brand == "Mastercard" and info.stored_offline
    assert info.ecr_ref == "order-9" and info.operation == 0x01


def test_encoders_refuse_values_that_do_not_fit() -> None:
    for fields in ([(0x04, 10**12)], [(0x04, -1)], [(0x29, "1234")], [(0x3B, b"short")],
                   [(0x22, "4999X")], [(0x99, 1)], [(0x27, 256)]):
        with pytest.raises(ZvtCodecError):
            encode_bitmaps(fields)  # type: ignore[arg-type]


# --- round trips -----------------------------------------------------------------------------------

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def _tag_strategy() -> st.SearchStrategy[int]:
    one = st.integers(0, 255).filter(lambda b: b & 0x1F != 0x1F)
    two = st.tuples(st.integers(0, 255).map(lambda b: b | 0x1F), st.integers(0, 0x7F))
    three = st.tuples(st.integers(0, 255).map(lambda b: b | 0x1F), st.integers(0x80, 0xFF),
                      st.integers(0, 0x7F))
    return st.one_of(one, two.map(lambda t: t[0] << 8 | t[1]),
                     three.map(lambda t: t[0] << 16 | t[1] << 8 | t[2]))


tlvs = st.lists(st.builds(Tlv, _tag_strategy(), st.binary(max_size=300)), max_size=4)


def _value_strategy(tag: int) -> st.SearchStrategy[object]:
    kind, size = BMP_FIELDS[tag]
    if kind == "bin":
        return st.integers(0, 256**size - 1)
    if kind == "bcd":
        return st.integers(0, 10 ** (2 * size) - 1)
    if kind == "digits":
        return st.text(alphabet="0123456789", min_size=2 * size, max_size=2 * size)
    if kind == "raw":
        return st.binary(min_size=size, max_size=size)
    if kind == "pan":
        return st.text(alphabet="0123456789E", min_size=1, max_size=99 * 2 - 1)
    if kind == "llvar_text":
        return st.text(alphabet=st.characters(max_codepoint=127), max_size=99)
    if kind == "lllvar":
        return st.binary(max_size=999)
    return tlvs.map(tuple)


bitmaps = st.lists(
    st.sampled_from(sorted(BMP_FIELDS)).flatmap(
        lambda tag: _value_strategy(tag).map(lambda v: (tag, v))),
    max_size=8,
)


@settings(max_examples=200)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=600))
def test_apdu_round_trip(cls: int, ins: int, data: bytes) -> None:
    apdu = Apdu(cls, ins, data)
    assert decode_apdu(encode_apdu(apdu)) == apdu


@settings(max_examples=200)
@given(bitmaps)
def test_bitmaps_round_trip(fields: list) -> None:
    assert decode_bitmaps(encode_bitmaps(fields)) == fields


@settings(max_examples=100)
@given(tlvs)
def test_tlv_round_trip(items: list[Tlv]) -> None:
    assert tlv_decode(tlv_encode(items)) == items


# --- malformed input -------------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_decode_or_raise_the_codec_error(raw: bytes) -> None:
    for decode in (decode_apdu, decode_bitmaps, tlv_decode,
                   lambda b: m.parse_status_information(Apdu(0x04, 0x0F, b)),
                   lambda b: m.parse_registration(Apdu(0x06, 0x00, b)),
                   lambda b: m.split_password(Apdu(0x06, 0x30, b))):
        try:
            decode(raw)
        except ZvtCodecError:
            pass


@settings(max_examples=150)
@given(bitmaps.filter(bool), st.data())
def test_truncated_bitmaps_are_refused(fields: list, data: st.DataObject) -> None:
    raw = encode_bitmaps(fields)
    cut = data.draw(st.integers(1, len(raw) - 1)) if len(raw) > 1 else 1
    try:
        decoded = decode_bitmaps(raw[:cut])
    except ZvtCodecError:
        return
    # A cut that falls exactly between BMPs is a shorter valid sequence, never garbage.
    assert decoded == fields[:len(decoded)]
