"""ESC/POS real-time status (DLE EOT n): the query bytes and a pure decoder of the answers.

`DLE EOT n` is 0x10 0x04 n. The printer answers one byte per query, even while offline or with a
full buffer. Bits as the ESC/POS reference defines them (Epson, "Transmit real-time status"):

- n=1 printer status: bit 2 = drawer kick-out connector pin 3 is HIGH; bit 3 = offline.
- n=2 offline cause: bit 2 = cover open; bit 3 = paper being fed by the FEED button;
  bit 5 = printing stopped by a paper end; bit 6 = an error occurred.
- n=4 roll paper sensor: bits 2+3 = near-end sensor reports near end (0x0C);
  bits 5+6 = end sensor reports no paper (0x60).

Every status byte has bit 1 on, bits 0 and 7 off and bit 4 on (`0xx1xx10`), which is how a
host tells a status byte from other data; a byte that does not match is refused.

Whether pin 3 HIGH means "drawer open" depends on the drawer's switch wiring, so the polarity
is a per-printer setting, never assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.devices import DeviceCause

DLE = 0x10
EOT = 0x04
PRINTER_STATUS = 1
OFFLINE_CAUSE = 2
PAPER_SENSOR = 4
QUERIES: tuple[int, ...] = (PRINTER_STATUS, OFFLINE_CAUSE, PAPER_SENSOR)

_FIXED_MASK = 0b1001_0011
_FIXED_VALUE = 0b0001_0010

# n=1
PIN3_HIGH = 0x04
OFFLINE = 0x08
# n=2
COVER_OPEN = 0x04
FEED_BUTTON = 0x08
PAPER_END_STOP = 0x20
ERROR = 0x40
# n=4
NEAR_END = 0x0C
PAPER_END = 0x60

# Causes that stop printing: a job must stay queued while any of them holds.
BLOCKING: frozenset[DeviceCause] = frozenset(
    {"paper_out", "cover_open", "offline", "error", "timeout", "communication_error",
     "not_connected"}
)


def query(n: int) -> bytes:
    assert n in QUERIES, n
    return bytes((DLE, EOT, n))


def is_status_byte(value: int) -> bool:
    return 0 <= value <= 0xFF and value & _FIXED_MASK == _FIXED_VALUE


@dataclass(frozen=True, slots=True)
class RealtimeStatus:
    offline: bool
    pin3_high: bool
    cover_open: bool
    paper_end_stop: bool
    error: bool
    paper_near_end: bool
    paper_out: bool
    drawer_open: bool

    def causes(self) -> list[DeviceCause]:
        """Most urgent first; an empty list means ready to print."""
        out: list[DeviceCause] = []
        if self.paper_out or self.paper_end_stop:
            out.append("paper_out")
        if self.cover_open:
            out.append("cover_open")
        if self.error:
            out.append("error")
        if self.offline and not out:
            # Offline with no named cause (e.g. waiting for on-line recovery).
            out.append("offline")
        if self.paper_near_end:
            out.append("paper_near_end")
        if self.drawer_open:
            out.append("drawer_open")
        return out

    @property
    def can_print(self) -> bool:
        return not any(c in BLOCKING for c in self.causes())


def decode(printer: int, offline_cause: int, paper: int, *,
           drawer_open_when_high: bool) -> RealtimeStatus:
    """Decode the answers to DLE EOT 1, 2 and 4. Raises ValueError on a non-status byte."""
    for n, value in ((1, printer), (2, offline_cause), (4, paper)):
        if not is_status_byte(value):
            raise ValueError(f"answer 0x{value:02x} to DLE EOT {n} is not a status byte")
    pin3_high = bool(printer & PIN3_HIGH)
    return RealtimeStatus(
        offline=bool(printer & OFFLINE),
        pin3_high=pin3_high,
        cover_open=bool(offline_cause & COVER_OPEN),
        paper_end_stop=bool(offline_cause & PAPER_END_STOP),
        error=bool(offline_cause & ERROR),
        paper_near_end=paper & NEAR_END == NEAR_END,
        paper_out=paper & PAPER_END == PAPER_END,
        drawer_open=pin3_high == drawer_open_when_high,
    )


def encode(*, offline: bool = False, pin3_high: bool = False, cover_open: bool = False,
           paper_out: bool = False, paper_near_end: bool = False, error: bool = False,
           ) -> dict[int, int]:
    """The bytes a printer in this state answers to DLE EOT 1, 2 and 4 (used by the emulator).

    A real printer goes offline while the cover is open or the paper has run out, and its
    offline-cause byte reports the paper-end stop together with the roll sensor."""
    offline = offline or cover_open or paper_out or error
    return {
        PRINTER_STATUS: _FIXED_VALUE | (PIN3_HIGH if pin3_high else 0) | (OFFLINE if offline else 0),
        OFFLINE_CAUSE: _FIXED_VALUE | (COVER_OPEN if cover_open else 0)
        | (PAPER_END_STOP if paper_out else 0) | (ERROR if error else 0),
        PAPER_SENSOR: _FIXED_VALUE | (NEAR_END if paper_near_end or paper_out else 0)
        | (PAPER_END if paper_out else 0),
    }
