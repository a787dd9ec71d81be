"""ZVT over a serial line: a real pty, pyserial on the ECR side, DLE/CRC frames with ACK/NAK."""

from __future__ import annotations

import os
import threading
import tty
from collections.abc import Iterator

import pytest

from drivers.emulators.zvt_terminal import ZvtTerminalEmulator
from drivers.transports import TransportError
from drivers.transports.serial import SerialTransport
from drivers.zvt import ZvtTerminal
from drivers.zvt import messages as m
from drivers.zvt.codec import encode_apdu
from drivers.zvt.framing import ACK, NAK, Frame, FrameParser, encode_frame
from drivers.zvt.link import SerialApduLink
from schemas.devices import DeviceAddress


@pytest.fixture
def serial_emulator() -> Iterator[ZvtTerminalEmulator]:
    with ZvtTerminalEmulator(serial=True) as emu:
        yield emu


@pytest.fixture
def serial_terminal(serial_emulator: ZvtTerminalEmulator) -> Iterator[ZvtTerminal]:
    assert serial_emulator.serial_path is not None
    term = ZvtTerminal("lane-2-terminal", DeviceAddress("serial", path=serial_emulator.serial_path))
    term.open()
    try:
        yield term
    finally:
        term.close()


def test_sale_refund_and_status_over_a_pty(serial_emulator: ZvtTerminalEmulator,
                                           serial_terminal: ZvtTerminal) -> None:
    assert serial_terminal.status().state == "idle"
    sale = serial_terminal.authorize(2500, "EUR", "order-serial")
    assert sale.outcome == "approved" and sale.reference is not None
    assert serial_terminal.refund(sale.reference, 500, "EUR").outcome == "approved"
    assert serial_terminal.terminal_status().ready
    last = serial_terminal.last_transaction()
    assert last is not None and last.operation == "refund" and last.amount_minor == 500
    assert serial_emulator.charged_minor("order-serial") == 2000


def test_serial_timeout_then_recovery_and_reconciliation(
        serial_emulator: ZvtTerminalEmulator, serial_terminal: ZvtTerminal) -> None:
    serial_emulator.script("timeout", after_booking=True)
    result = serial_terminal.authorize(900, "EUR", "order-st", timeout_s=0.4)
    assert result.outcome == "timeout"
    last = serial_terminal.last_transaction()  # the ECR's abort ended the terminal's silence
    assert last is not None and (last.ecr_ref, last.outcome) == ("order-st", "approved")
    assert serial_terminal.authorize(100, "EUR", "order-next").outcome == "approved"
    assert serial_emulator.charged_minor("order-st") == 900


@pytest.fixture
def raw_pty() -> Iterator[tuple[int, SerialApduLink]]:
    """The ECR's SerialApduLink on a pty slave; the test plays the terminal on the master."""
    master, slave = os.openpty()
    tty.setraw(slave)
    transport = SerialTransport(os.ttyname(slave))
    transport.open()
    try:
        yield master, SerialApduLink(transport, ack_timeout_s=0.3)
    finally:
        transport.close()
        os.close(master)
        os.close(slave)


def _read_frames(master: int, count: int) -> list[Frame]:
    parser, frames = FrameParser(), []
    while len(frames) < count:
        frames += [e for e in parser.feed(os.read(master, 4096)) if isinstance(e, Frame)]
    return frames


def test_a_nak_makes_the_sender_repeat_the_frame(raw_pty: tuple[int, SerialApduLink]) -> None:
    master, link = raw_pty
    seen: list[Frame] = []

    def terminal_side() -> None:
        seen.extend(_read_frames(master, 1))
        os.write(master, bytes((NAK,)))
        seen.extend(_read_frames(master, 1))
        os.write(master, bytes((ACK,)))

    thread = threading.Thread(target=terminal_side)
    thread.start()
    link.send(m.status_enquiry("000000"))
    thread.join(timeout=10)
    expected = encode_apdu(m.status_enquiry("000000"))
    assert [f.apdu for f in seen] == [expected, expected]


def test_no_ack_after_three_transmissions_breaks_the_link(
        raw_pty: tuple[int, SerialApduLink]) -> None:
    master, link = raw_pty
    with pytest.raises(TransportError) as broken:
        link.send(m.ACK)
    assert not broken.value.timeout
    assert len(_read_frames(master, 3)) == 3


def test_a_damaged_frame_is_refused_and_the_repeat_accepted(
        raw_pty: tuple[int, SerialApduLink]) -> None:
    master, link = raw_pty
    good = encode_frame(encode_apdu(m.completion()))
    damaged = bytearray(good)
    damaged[-1] ^= 0xFF  # wrong CRC
    os.write(master, bytes(damaged))
    with pytest.raises(TransportError) as nothing_yet:
        link.receive(0.3)
    assert nothing_yet.value.timeout
    assert os.read(master, 16) == bytes((NAK,))
    os.write(master, good)
    assert link.receive(2.0) == m.completion()
    assert os.read(master, 16) == bytes((ACK,))
