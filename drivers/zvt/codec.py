"""ZVT APDU codec: pure functions between bytes and values, no I/O.

An APDU is a class byte, an instruction byte, a length and data. The length is one byte, or,
for 255 data bytes and more, 0xFF followed by a 2-byte little-endian length (at most 65535).
Data is usually a sequence of "bitmaps" (BMPs): a tag byte followed by a value whose size and
encoding the tag fixes: BCD numbers, binary bytes, LLVAR/LLLVAR fields (length digits sent as
0xF0-0xF9 bytes) or the BMP 06 TLV container (BER tags and lengths).

Invariants: `decode_*(encode_*(x)) == x` for every value the encoders accept; every malformed
input raises `ZvtCodecError` (a ValueError), never another exception; encoders refuse values
that do not fit their field rather than truncating them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MAX_DATA_LEN = 0xFFFF
SHORT_LEN_MAX = 0xFE  # 0xFF in the length byte announces the long form


class ZvtCodecError(ValueError):
    """Bytes that are not a well-formed ZVT APDU, BMP or TLV, or a value that cannot be sent."""


# --- APDU ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Apdu:
    cls: int
    ins: int
    data: bytes = b""

    @property
    def command(self) -> tuple[int, int]:
        return (self.cls, self.ins)

    def __repr__(self) -> str:
        return f"Apdu({self.cls:02X} {self.ins:02X} [{self.data.hex(' ')}])"


def encode_apdu(apdu: Apdu) -> bytes:
    if not (0 <= apdu.cls <= 0xFF and 0 <= apdu.ins <= 0xFF):
        raise ZvtCodecError(f"class/instruction out of range: {apdu.cls}, {apdu.ins}")
    size = len(apdu.data)
    if size > MAX_DATA_LEN:
        raise ZvtCodecError(f"APDU data of {size} bytes exceeds {MAX_DATA_LEN}")
    if size <= SHORT_LEN_MAX:
        header = bytes((apdu.cls, apdu.ins, size))
    else:
        header = bytes((apdu.cls, apdu.ins, 0xFF)) + size.to_bytes(2, "little")
    return header + apdu.data


def apdu_size(buf: bytes) -> int | None:
    """Total size of the APDU starting `buf`, or None while the header is incomplete."""
    if len(buf) < 3:
        return None
    if buf[2] != 0xFF:
        return 3 + buf[2]
    if len(buf) < 5:
        return None
    return 5 + int.from_bytes(buf[3:5], "little")


def decode_apdu(buf: bytes) -> Apdu:
    """Exactly one APDU: trailing or missing bytes are an error."""
    size = apdu_size(buf)
    if size is None:
        raise ZvtCodecError(f"APDU header incomplete: {bytes(buf).hex(' ')}")
    if len(buf) != size:
        raise ZvtCodecError(f"APDU announces {size} bytes, got {len(buf)}")
    offset = 5 if buf[2] == 0xFF else 3
    return Apdu(buf[0], buf[1], bytes(buf[offset:]))


# --- BCD and variable lengths ------------------------------------------------------------------


def bcd_encode(value: int, size: int) -> bytes:
    if value < 0 or value >= 10 ** (2 * size):
        raise ZvtCodecError(f"{value} does not fit {size} BCD bytes")
    digits = f"{value:0{2 * size}d}"
    return bytes.fromhex(digits)


def bcd_decode(raw: bytes) -> int:
    digits = raw.hex()
    if not digits.isdigit():
        raise ZvtCodecError(f"not BCD: {raw.hex(' ')}")
    return int(digits) if digits else 0


def digits_encode(digits: str, size: int) -> bytes:
    """A fixed-width string of decimal digits (dates, times, terminal ids) as BCD."""
    if len(digits) != 2 * size or not digits.isdigit() or not digits.isascii():
        raise ZvtCodecError(f"{digits!r} is not {2 * size} decimal digits")
    return bytes.fromhex(digits)


def digits_decode(raw: bytes) -> str:
    digits = raw.hex()
    if not digits.isdigit():
        raise ZvtCodecError(f"not BCD digits: {raw.hex(' ')}")
    return digits


def varlen_encode(size: int, ndigits: int) -> bytes:
    """LLVAR (ndigits=2) / LLLVAR (3) length prefix: each decimal digit d sent as 0xF0|d."""
    if size < 0 or size >= 10**ndigits:
        raise ZvtCodecError(f"length {size} does not fit {ndigits} length digits")
    return bytes(0xF0 | int(d) for d in f"{size:0{ndigits}d}")


def varlen_decode(buf: bytes, offset: int, ndigits: int) -> tuple[int, int]:
    """(length, offset after the prefix)."""
    prefix = buf[offset:offset + ndigits]
    if len(prefix) != ndigits:
        raise ZvtCodecError("variable length prefix truncated")
    size = 0
    for byte in prefix:
        if byte & 0xF0 != 0xF0 or byte & 0x0F > 9:
            raise ZvtCodecError(f"bad length digit byte {byte:02X}")
        size = size * 10 + (byte & 0x0F)
    return size, offset + ndigits


def pan_encode(masked_pan: str) -> bytes:
    """A PAN of digits where 'E' marks a masked digit; odd lengths are padded with F."""
    if not masked_pan or any(c not in "0123456789E" for c in masked_pan):
        raise ZvtCodecError(f"PAN may hold only digits and E: {masked_pan!r}")
    nibbles = masked_pan + ("F" if len(masked_pan) % 2 else "")
    return bytes.fromhex(nibbles)


def pan_decode(raw: bytes) -> str:
    nibbles = raw.hex().upper()
    nibbles = nibbles.removesuffix("F")
    if not nibbles or any(c not in "0123456789E" for c in nibbles):
        raise ZvtCodecError(f"bad PAN nibbles: {raw.hex(' ')}")
    return nibbles


# --- TLV container (BMP 06) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tlv:
    """One TLV data object. `tag` is the tag's bytes read big-endian (0x1F11, 0xDF20, 0x07)."""

    tag: int
    value: bytes


def tag_bytes(tag: int) -> bytes:
    if tag < 0:
        raise ZvtCodecError(f"negative TLV tag {tag}")
    raw = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    _check_tag(raw)
    return raw


def _check_tag(raw: bytes) -> None:
    if len(raw) > 3:
        raise ZvtCodecError(f"TLV tag longer than 3 bytes: {raw.hex()}")
    multi = raw[0] & 0x1F == 0x1F
    if not multi and len(raw) != 1:
        raise ZvtCodecError(f"one-byte TLV tag carries extra bytes: {raw.hex()}")
    if multi:
        if len(raw) < 2:
            raise ZvtCodecError(f"TLV tag {raw.hex()} announces more bytes")
        *middle, last = raw[1:]
        if any(b & 0x80 == 0 for b in middle) or last & 0x80:
            raise ZvtCodecError(f"bad continuation bits in TLV tag {raw.hex()}")


def ber_length_encode(size: int) -> bytes:
    if size < 0x80:
        return bytes((size,))
    if size <= 0xFF:
        return bytes((0x81, size))
    if size <= 0xFFFF:
        return b"\x82" + size.to_bytes(2, "big")
    raise ZvtCodecError(f"TLV length {size} too large")


def ber_length_decode(buf: bytes, offset: int) -> tuple[int, int]:
    if offset >= len(buf):
        raise ZvtCodecError("TLV length missing")
    first = buf[offset]
    if first < 0x80:
        return first, offset + 1
    count = first & 0x7F
    if first not in (0x81, 0x82) or offset + 1 + count > len(buf):
        raise ZvtCodecError(f"bad or truncated TLV length {first:02X}")
    size = int.from_bytes(buf[offset + 1:offset + 1 + count], "big")
    if (count == 1 and size < 0x80) or (count == 2 and size <= 0xFF):
        raise ZvtCodecError("TLV length not in its shortest form")
    return size, offset + 1 + count


def tlv_encode(items: list[Tlv]) -> bytes:
    out = bytearray()
    for item in items:
        out += tag_bytes(item.tag) + ber_length_encode(len(item.value)) + item.value
    return bytes(out)


def tlv_decode(buf: bytes) -> list[Tlv]:
    items: list[Tlv] = []
    offset = 0
    while offset < len(buf):
        start = offset
        offset += 1
        if buf[start] & 0x1F == 0x1F:
            while True:
                if offset >= len(buf):
                    raise ZvtCodecError("TLV tag truncated")
                offset += 1
                if buf[offset - 1] & 0x80 == 0:
                    break
                if offset - start >= 3:
                    raise ZvtCodecError("TLV tag longer than 3 bytes")
        raw_tag = buf[start:offset]
        _check_tag(raw_tag)
        size, offset = ber_length_decode(buf, offset)
        if offset + size > len(buf):
            raise ZvtCodecError("TLV value truncated")
        items.append(Tlv(int.from_bytes(raw_tag, "big"), bytes(buf[offset:offset + size])))
        offset += size
    return items


# --- BMP fields --------------------------------------------------------------------------------

FieldKind = Literal["bin", "bcd", "digits", "raw", "pan", "llvar_text", "lllvar", "tlv"]
Value = int | str | bytes | tuple[Tlv, ...]

# tag -> (kind, fixed size in bytes; 0 for variable). Only tags listed here can be decoded: a
# BMP's size is known only from its tag, so an unknown tag makes the rest of the APDU unreadable.
BMP_FIELDS: dict[int, tuple[FieldKind, int]] = {
    0x01: ("bin", 1),         # timeout (s)
    0x02: ("bin", 1),         # max. status infos
    0x03: ("bin", 1),         # service byte
    0x04: ("bcd", 6),         # amount in minor units
    0x05: ("bin", 1),         # pump number
    0x06: ("tlv", 0),         # TLV container
    0x0B: ("bcd", 3),         # trace number
    0x0C: ("digits", 3),      # time HHMMSS
    0x0D: ("digits", 2),      # date MMDD
    0x0E: ("digits", 2),      # expiry date YYMM
    0x17: ("bcd", 2),         # card sequence number
    0x19: ("bin", 1),         # payment type / status byte
    0x22: ("pan", 0),         # PAN, LLVAR BCD, E = masked digit
    0x27: ("bin", 1),         # result code
    0x29: ("digits", 4),      # terminal id
    0x2A: ("raw", 15),        # VU (contract) number, ASCII
    0x37: ("bcd", 3),         # original trace number
    0x3B: ("raw", 8),         # AID / authorisation attribute (approval code), ASCII
    0x3C: ("lllvar", 0),      # additional data
    0x49: ("bcd", 2),         # currency code, ISO 4217 numeric
    0x87: ("bcd", 2),         # receipt number
    0x88: ("bcd", 3),         # turnover record number
    0x8A: ("bin", 1),         # card type (ZVT card id)
    0x8B: ("llvar_text", 0),  # card name, ASCII
    0x8C: ("bin", 1),         # card type id (network)
    0xA0: ("bin", 1),         # result code AS
    0xBA: ("raw", 5),         # AID parameter
}

Bitmaps = list[tuple[int, Value]]


def _encode_value(tag: int, value: Value) -> bytes:
    try:
        kind, size = BMP_FIELDS[tag]
    except KeyError:
        raise ZvtCodecError(f"unknown BMP {tag:02X}") from None
    if kind == "bin":
        if not isinstance(value, int) or not 0 <= value < 256 ** size:
            raise ZvtCodecError(f"BMP {tag:02X} needs an int of {size} byte(s): {value!r}")
        return value.to_bytes(size, "big")
    if kind == "bcd":
        if not isinstance(value, int):
            raise ZvtCodecError(f"BMP {tag:02X} needs an int: {value!r}")
        return bcd_encode(value, size)
    if kind == "digits":
        if not isinstance(value, str):
            raise ZvtCodecError(f"BMP {tag:02X} needs a digit string: {value!r}")
        return digits_encode(value, size)
    if kind == "raw":
        if not isinstance(value, bytes) or len(value) != size:
            raise ZvtCodecError(f"BMP {tag:02X} needs exactly {size} bytes: {value!r}")
        return value
    if kind == "pan":
        if not isinstance(value, str):
            raise ZvtCodecError(f"BMP {tag:02X} needs a PAN string: {value!r}")
        raw = pan_encode(value)
        return varlen_encode(len(raw), 2) + raw
    if kind == "llvar_text":
        if not isinstance(value, str) or not value.isascii():
            raise ZvtCodecError(f"BMP {tag:02X} needs ASCII text: {value!r}")
        raw = value.encode("ascii")
        return varlen_encode(len(raw), 2) + raw
    if kind == "lllvar":
        if not isinstance(value, bytes):
            raise ZvtCodecError(f"BMP {tag:02X} needs bytes: {value!r}")
        return varlen_encode(len(value), 3) + value
    if not isinstance(value, tuple) or not all(isinstance(i, Tlv) for i in value):
        raise ZvtCodecError(f"BMP 06 needs a tuple of Tlv: {value!r}")
    body = tlv_encode(list(value))
    return ber_length_encode(len(body)) + body


def encode_bitmaps(fields: Bitmaps) -> bytes:
    return b"".join(bytes((tag,)) + _encode_value(tag, value) for tag, value in fields)


def _decode_one(buf: bytes, offset: int) -> tuple[int, Value, int]:
    tag = buf[offset]
    offset += 1
    try:
        kind, size = BMP_FIELDS[tag]
    except KeyError:
        raise ZvtCodecError(f"unknown BMP {tag:02X} at offset {offset - 1}") from None
    if kind in ("pan", "llvar_text", "lllvar"):
        size, offset = varlen_decode(buf, offset, 3 if kind == "lllvar" else 2)
    elif kind == "tlv":
        size, offset = ber_length_decode(buf, offset)
    raw = bytes(buf[offset:offset + size])
    if len(raw) != size:
        raise ZvtCodecError(f"BMP {tag:02X} truncated: wants {size} bytes, has {len(raw)}")
    offset += size
    value: Value
    if kind == "bin":
        value = int.from_bytes(raw, "big")
    elif kind == "bcd":
        value = bcd_decode(raw)
    elif kind == "digits":
        value = digits_decode(raw)
    elif kind == "raw" or kind == "lllvar":
        value = raw
    elif kind == "pan":
        value = pan_decode(raw)
    elif kind == "llvar_text":
        try:
            value = raw.decode("ascii")
        except UnicodeDecodeError:
            raise ZvtCodecError(f"BMP {tag:02X} is not ASCII") from None
    else:
        value = tuple(tlv_decode(raw))
    return tag, value, offset


def decode_bitmaps(buf: bytes) -> Bitmaps:
    fields: Bitmaps = []
    offset = 0
    while offset < len(buf):
        tag, value, offset = _decode_one(buf, offset)
        fields.append((tag, value))
    return fields
