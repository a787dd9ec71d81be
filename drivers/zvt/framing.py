"""ZVT serial framing: DLE STX <APDU, DLE doubled> DLE ETX CRC-lo CRC-hi, pure functions.

Over serial lines every APDU travels in a frame; the receiver answers a good frame with ACK
(0x06) and a damaged one with NAK (0x15), and the sender repeats a frame at most
`MAX_TRANSMISSIONS` times in all. Over TCP APDUs go bare and none of this applies.

The CRC is CRC-16/CCITT in its reflected form (polynomial 0x1021 processed LSB first, i.e.
0x8408; initial value 0; no final XOR), computed over the unstuffed APDU bytes followed by the
ETX byte, and sent low byte first. The two CRC bytes are not DLE-doubled: after DLE ETX the
receiver reads exactly two bytes. Invariants: `unstuff(stuff(b)) == b`, a `FrameParser` fed
`encode_frame(apdu)` in any chunking yields exactly that APDU, and any single corrupted byte
inside the frame body is caught (the CRC detects all single-byte errors).
"""

from __future__ import annotations

from dataclasses import dataclass

STX = 0x02
ETX = 0x03
ACK = 0x06
DLE = 0x10
NAK = 0x15

MAX_TRANSMISSIONS = 3      # one try and two repeats, then the link is declared broken
MAX_FRAME_APDU_BYTES = 0xFFFF + 5


class FramingError(ValueError):
    """A frame that cannot be decoded (bad escape, bad CRC, oversize)."""


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _table()


def crc16(data: bytes, crc: int = 0) -> int:
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def frame_crc(apdu: bytes) -> int:
    return crc16(bytes(apdu) + bytes((ETX,)))


def stuff(data: bytes) -> bytes:
    return bytes(data).replace(bytes((DLE,)), bytes((DLE, DLE)))


def unstuff(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == DLE:
            if i + 1 >= len(data) or data[i + 1] != DLE:
                raise FramingError(f"lone DLE at {i}")
            i += 1
        out.append(byte)
        i += 1
    return bytes(out)


def encode_frame(apdu: bytes) -> bytes:
    crc = frame_crc(apdu)
    return (bytes((DLE, STX)) + stuff(apdu) + bytes((DLE, ETX))
            + bytes((crc & 0xFF, crc >> 8)))


def decode_frame(frame: bytes) -> bytes:
    """The APDU inside one complete frame; FramingError when it is damaged."""
    if len(frame) < 6 or frame[:2] != bytes((DLE, STX)) or frame[-4:-2] != bytes((DLE, ETX)):
        raise FramingError("not a DLE STX … DLE ETX frame")
    apdu = unstuff(frame[2:-4])
    received = frame[-2] | frame[-1] << 8
    if frame_crc(apdu) != received:
        raise FramingError(f"CRC mismatch: got {received:04X}, want {frame_crc(apdu):04X}")
    return apdu


@dataclass(frozen=True, slots=True)
class Control:
    """A single ACK or NAK byte seen outside a frame."""

    byte: int


@dataclass(frozen=True, slots=True)
class Frame:
    """A complete frame: `apdu` when the CRC matched, else None (answer NAK)."""

    apdu: bytes | None


class FrameParser:
    """Incremental receiver: feed bytes as they come, collect Controls and Frames.

    Bytes outside a frame other than ACK/NAK are line noise and are dropped; a frame that
    grows past `MAX_FRAME_APDU_BYTES` is abandoned and reported as damaged.
    """

    def __init__(self) -> None:
        self._state = "idle"  # idle | dle | body | body_dle | crc
        self._body = bytearray()
        self._crc = bytearray()

    def feed(self, data: bytes) -> list[Control | Frame]:
        events: list[Control | Frame] = []
        for byte in data:
            event = self._step(byte)
            if event is not None:
                events.append(event)
        return events

    def _step(self, byte: int) -> Control | Frame | None:
        state = self._state
        if state == "idle":
            if byte == DLE:
                self._state = "dle"
            elif byte in (ACK, NAK):
                return Control(byte)
            return None
        if state == "dle":
            if byte == STX:
                self._body.clear()
                self._state = "body"
            else:
                self._state = "idle"
            return None
        if state == "body":
            if byte == DLE:
                self._state = "body_dle"
            else:
                self._body.append(byte)
                if len(self._body) > MAX_FRAME_APDU_BYTES:
                    self._state = "idle"
                    return Frame(None)
            return None
        if state == "body_dle":
            if byte == DLE:
                self._body.append(DLE)
                self._state = "body"
            elif byte == ETX:
                self._crc.clear()
                self._state = "crc"
            elif byte == STX:  # a new frame started: the previous one was cut short
                self._body.clear()
                self._state = "body"
            else:
                self._state = "idle"
                return Frame(None)
            return None
        self._crc.append(byte)
        if len(self._crc) < 2:
            return None
        self._state = "idle"
        apdu = bytes(self._body)
        ok = frame_crc(apdu) == (self._crc[0] | self._crc[1] << 8)
        return Frame(apdu if ok else None)
