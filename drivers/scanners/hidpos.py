"""HID POS scanner reports (HID Point of Sale usage tables, usage page 0x8C).

The decoded-data input report as HID POS scanners (Honeywell, Zebra, Datalogic in "HID POS"
mode) send it, 64 bytes:

    byte 0      report id 0x02
    byte 1      number of data bytes in this report (0-56)
    bytes 2-4   AIM symbology identifier, e.g. "]E0"
    bytes 5-60  decoded data (zero padded)
    bytes 61-62 vendor symbology id (ignored)
    byte 63     bit 0 set: more data follows in the next report

Codes longer than 56 bytes span several reports; `HidPosAssembler` joins them. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.scanners.serial_codec import parse_aim

REPORT_ID = 0x02
REPORT_BYTES = 64
DATA_OFFSET, DATA_BYTES = 5, 56
MORE_FLAG_OFFSET = 63
MAX_CODE_BYTES = 4_096


@dataclass(frozen=True, slots=True)
class Fragment:
    aim: str
    data: bytes
    more: bool


def decode_report(report: bytes) -> Fragment | None:
    """One report's fragment, or None for a report that is not decoded data."""
    if len(report) < DATA_OFFSET or report[0] != REPORT_ID:
        return None
    length = min(report[1], DATA_BYTES, max(0, len(report) - DATA_OFFSET))
    aim = bytes(report[2:5]).decode("latin-1")
    data = bytes(report[DATA_OFFSET:DATA_OFFSET + length])
    more = len(report) > MORE_FLAG_OFFSET and bool(report[MORE_FLAG_OFFSET] & 0x01)
    return Fragment(aim, data, more)


@dataclass
class HidPosAssembler:
    _parts: list[bytes] = field(default_factory=list)
    _aim: str = ""

    def reset(self) -> None:
        self._parts, self._aim = [], ""

    def feed(self, report: bytes) -> tuple[str, str | None] | None:
        """(code, symbology) when this report completes a code."""
        frag = decode_report(report)
        if frag is None:
            return None
        if not self._parts:
            self._aim = frag.aim
        self._parts.append(frag.data)
        if sum(len(p) for p in self._parts) > MAX_CODE_BYTES:
            self.reset()
            return None
        if frag.more:
            return None
        data, aim = b"".join(self._parts), self._aim
        self.reset()
        if not data:
            return None
        code, symbology = parse_aim(aim + data.decode("latin-1"))
        return code, symbology


def encode_reports(code: bytes, aim: str = "]E0") -> list[bytes]:
    """The reports a HID POS scanner sends for `code` (for tests and the demo)."""
    if not code:
        raise ValueError("empty code")
    chunks = [code[i:i + DATA_BYTES] for i in range(0, len(code), DATA_BYTES)]
    out = []
    for n, chunk in enumerate(chunks):
        report = bytearray(REPORT_BYTES)
        report[0], report[1] = REPORT_ID, len(chunk)
        report[2:5] = aim.encode("latin-1")[:3].ljust(3, b"\0")
        report[DATA_OFFSET:DATA_OFFSET + len(chunk)] = chunk
        report[MORE_FLAG_OFFSET] = 1 if n < len(chunks) - 1 else 0
        out.append(bytes(report))
    return out
