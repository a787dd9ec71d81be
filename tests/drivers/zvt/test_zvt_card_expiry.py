"""The card's expiry date, as a ZVT terminal reports it: BMP 0E (2 bytes BCD, YYMM) in the
status information (04 0F) of an authorisation, read by the driver into
`CardReference.expiry`; never beside a whole PAN (a PAN sent whole is masked by the driver)."""

from __future__ import annotations

import socket

from hypothesis import given
from hypothesis import strategies as st

from drivers.emulators.zvt_terminal import ZvtTerminalEmulator
from drivers.zvt import ZvtTerminal
from drivers.zvt import messages as m
from drivers.zvt.codec import apdu_size, decode_apdu, decode_bitmaps, encode_apdu

ACK = bytes((0x80, 0x00, 0x00))


class _Wire:
    """Whole APDUs off a bare TCP socket, as the ZVT transport over TCP sends them."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def read(self) -> bytes:
        while (size := apdu_size(self.buf)) is None or len(self.buf) < size:
            chunk = self.sock.recv(4096)
            assert chunk, "the terminal hung up"
            self.buf += chunk
        apdu, self.buf = self.buf[:size], self.buf[size:]
        return apdu


def test_the_emulator_sends_the_expiry_as_bmp_0e_in_the_authorisation_result(
        emulator: ZvtTerminalEmulator) -> None:
    """On the wire, byte for byte, as a real terminal does: `0E 28 12` for 12/28."""
    emulator.script("approve", expiry="2703")
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=3) as sock:
        wire = _Wire(sock)
        sock.sendall(encode_apdu(m.registration("000000", m.CFG_INTERMEDIATE_STATUS, 978)))
        assert wire.read() == ACK
        assert decode_apdu(wire.read()).command == m.COMPLETION
        sock.sendall(ACK)
        sock.sendall(encode_apdu(m.authorization(1999, 978, "order-raw")))
        assert wire.read() == ACK
        while (apdu := decode_apdu(wire.read())).command != m.STATUS_INFORMATION:
            sock.sendall(ACK)
        assert bytes((0x0E, 0x27, 0x03)) in apdu.data
        assert dict(decode_bitmaps(apdu.data))[0x0E] == "2703"
        sock.sendall(ACK)


def test_a_sale_refund_and_last_transaction_carry_the_expiry_over_tcp(
        emulator: ZvtTerminalEmulator, terminal: ZvtTerminal) -> None:
    sale = terminal.authorize(1999, "EUR", "order-exp")
    assert sale.outcome == "approved" and sale.reference is not None
    assert sale.reference.expiry == "2812"  # the emulator's default card
    emulator.script("approve", masked_pan="5413EEEEEEEE0004", card_name="Mastercard",
                    expiry="2611")
    other = terminal.authorize(500, "EUR", "order-mc")
    assert other.reference is not None and other.reference.expiry == "2611"
    refund = terminal.refund(other.reference, 500, "EUR")
    assert refund.outcome == "approved" and refund.reference is not None
    assert refund.reference.expiry == "2611"  # the card of the original
    last = terminal.last_transaction()
    assert last is not None and last.reference is not None
    assert (last.operation, last.reference.expiry) == ("refund", "2611")


def test_no_expiry_or_a_month_that_is_none_gives_no_expiry(
        emulator: ZvtTerminalEmulator, terminal: ZvtTerminal) -> None:
    emulator.script("approve", expiry="0000")  # some terminals send zeros when not known
    result = terminal.authorize(100, "EUR", "order-zero")
    assert result.outcome == "approved" and result.reference is not None
    assert result.reference.expiry is None
    # Without BMP 0E at all (a terminal that does not send it): parsed as None as well.
    assert m.parse_status_fields([(0x27, 0), (0x0B, 1), (0x87, 1)]).expiry is None
    assert m.parse_status_fields([(0x0E, "2813")]).expiry is None
    assert m.parse_status_fields([(0x0E, "3001")]).expiry == "3001"


def test_a_terminal_that_sends_the_whole_pan_is_masked_by_the_driver(
        emulator: ZvtTerminalEmulator, terminal: ZvtTerminal) -> None:
    emulator.script("approve", masked_pan="4999123456781234")
    result = terminal.authorize(100, "EUR", "order-whole")
    assert result.reference is not None
    assert result.reference.masked_pan == "499912******1234"
    assert "4999123456781234" not in repr(result)


@given(st.text("0123456789", min_size=4, max_size=19))
def test_a_pan_sent_whole_never_shows_more_than_the_first_six_and_last_four(pan: str) -> None:
    shown = m.display_pan(pan)
    assert len(shown) == len(pan) and shown[-4:] == pan[-4:]
    digits = sum(c.isdigit() for c in shown)
    assert digits <= 10 and (len(pan) <= 4 or "*" in shown)
