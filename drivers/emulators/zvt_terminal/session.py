"""One ECR conversation with the emulated terminal, over whatever link it arrived on.

The session reads commands, answers them with the same `messages` functions the driver uses,
waits for the ECR's ACK after each of its own messages, and carries out the scripted outcome of
each money command: what is said on the wire, when it falls silent or hangs up, and whether the
money moved before that (the books in `books.py` decide the money).
"""

from __future__ import annotations

import threading
import time

from drivers.emulators.zvt_terminal.books import (
    Refused,
    TerminalState,
    receipt_lines,
    status_fields,
)
from drivers.transports import TransportError
from drivers.zvt import messages as m
from drivers.zvt.codec import (
    Apdu,
    Bitmaps,
    Tlv,
    ZvtCodecError,
    bcd_encode,
    decode_bitmaps,
    encode_bitmaps,
)
from drivers.zvt.link import SerialApduLink, TcpApduLink

MONEY_COMMANDS = {
    m.AUTHORIZATION: "sale", m.PRE_AUTHORIZATION: "preauth", m.BOOK_TOTAL: "book_total",
    m.REVERSAL: "reversal", m.REFUND: "refund",
}
ECR_ACK_TIMEOUT_S = 5.0


class _Hangup(Exception):
    """The script says: drop the link now."""




class Session:
    """One ECR conversation over one link; returns when the link closes or the script hangs
    up."""

    def __init__(self, state: TerminalState, link: TcpApduLink | SerialApduLink,
                 stop: threading.Event, password: str) -> None:
        self.state = state
        self.link = link
        self.stop = stop
        self.password = password

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                apdu = self.link.receive(0.2)
            except TransportError as exc:
                if exc.timeout:
                    continue
                return
            except ZvtCodecError:
                continue  # garbage from the ECR: ignore it, as a terminal would
            if apdu.cls in (m.ACK_CLASS, m.NAK_CLASS):
                continue  # a late acknowledgement: nothing to do
            try:
                self._handle(apdu)
            except _Hangup:
                self.link.transport.close()
                return
            except TransportError:
                return

    # --- helpers ---------------------------------------------------------------------------

    def _send(self, apdu: Apdu) -> None:
        """Send a message and wait for the ECR's ACK (as the spec has it, the terminal waits)."""
        self.link.send(apdu)
        deadline = time.monotonic() + ECR_ACK_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                answer = self.link.receive(deadline - time.monotonic())
            except TransportError as exc:
                if exc.timeout:
                    return
                raise
            if answer.cls == m.ACK_CLASS:
                return
            if answer.command == m.ECR_ABORT:
                raise _EcrAbort()

    def _finish_ok(self, fields: Bitmaps | None) -> None:
        if fields is not None:
            self._send(m.status_information(fields))
        self._send(m.completion())

    # --- dispatch --------------------------------------------------------------------------

    def _handle(self, apdu: Apdu) -> None:
        if not self.state.busy.acquire(timeout=self.state.busy_wait_s):
            self.link.send(m.nak(m.RC_PT_BUSY))
            return
        try:
            self._dispatch(apdu)
        finally:
            self.state.busy.release()

    def _dispatch(self, apdu: Apdu) -> None:
        command = apdu.command
        try:
            if command == m.REGISTRATION:
                reg = m.parse_registration(apdu)
                if reg.password != self.password:
                    self.link.send(m.nak(m.RC_FUNCTION_NOT_POSSIBLE))
                    return
                self.state.ecr_prints = bool(reg.config_byte & m.CFG_ECR_PRINTS_PAYMENT_RECEIPT)
                self.link.send(m.ACK)
                self._send(m.completion())
            elif command == m.STATUS_ENQUIRY:
                self._password(apdu)
                self.link.send(m.ACK)
                self._send(m.status_information(self._status_fields()))
                self._send(m.completion())
            elif command == m.REPEAT_RECEIPT:
                self._password(apdu)
                self.link.send(m.ACK)
                self._repeat_receipt()
            elif command == m.END_OF_DAY:
                self._password(apdu)
                self.link.send(m.ACK)
                self._end_of_day()
            elif command == m.ECR_ABORT:
                # Nothing is running (a running transaction reads its own abort).
                self.link.send(m.ACK)
            elif command in MONEY_COMMANDS:
                self._money(MONEY_COMMANDS[command], apdu)
            else:
                self.link.send(m.nak(m.RC_FUNCTION_NOT_POSSIBLE))
        except ZvtCodecError:
            self.link.send(m.nak(m.RC_FUNCTION_NOT_POSSIBLE))
        except _EcrAbort:
            self._send(m.pt_abort(m.RC_ABORT_TIMEOUT_OR_KEY))

    def _password(self, apdu: Apdu) -> Bitmaps:
        password, fields = m.split_password(apdu)
        if password != self.password:
            raise ZvtCodecError("wrong password")
        return fields

    def _status_fields(self) -> Bitmaps:
        stored = self.state.stored()
        tlv = (
            Tlv(m.TAG_ONLINE_FLAG, bytes((1 if self.state.link_up else 0,))),
            Tlv(m.TAG_STORED_COUNT, len(stored).to_bytes(4, "big")),
            Tlv(m.TAG_STORED_MINOR, bcd_encode(sum(e.amount_minor for e in stored), 6)),
        )
        return [(0x27, m.RC_SUCCESS), (0x29, self.state.terminal_id), (0x06, tlv)]

    def _repeat_receipt(self) -> None:
        entry = self.state.last()
        if entry is None:
            self._send(m.pt_abort(m.RC_FUNCTION_NOT_POSSIBLE))
            return
        self._send(m.status_information(
            status_fields(entry, self.state.terminal_id, entry.result_code)))
        self._send(m.completion())

    def _end_of_day(self) -> None:
        try:
            total, count, forwarded, declined = self.state.end_of_day()
        except Refused as exc:
            self._send(m.pt_abort(exc.code))
            return
        tlv = [Tlv(m.TAG_EOD_TRANSACTIONS, count.to_bytes(4, "big")),
               Tlv(m.TAG_EOD_FORWARDED, forwarded.to_bytes(4, "big"))]
        for entry in declined:
            ref: Bitmaps = [(0x29, self.state.terminal_id), (0x0B, entry.trace_no),
                            (0x87, entry.receipt_no), (0x04, entry.amount_minor),
                            (0x22, entry.masked_pan), (0x8B, entry.card_name)]
            tlv.append(Tlv(m.TAG_FORWARD_DECLINED, encode_bitmaps(ref)))
        fields: Bitmaps = [(0x27, m.RC_SUCCESS), (0x04, total), (0x29, self.state.terminal_id),
                           (0x06, tuple(tlv))]
        self._send(m.status_information(fields))
        self._send(m.completion())

    # --- money -----------------------------------------------------------------------------

    def _parse_money(self, operation: str, apdu: Apdu) -> dict:
        if operation in ("reversal", "refund"):
            fields = self._password(apdu)
        else:
            fields = decode_bitmaps(apdu.data)
        parsed: dict = dict(fields)
        tlv = m.tlv_dict(fields)
        if m.TAG_ECR_REF in tlv:
            parsed["ecr_ref"] = tlv[m.TAG_ECR_REF].decode("utf-8", "replace")
        if m.TAG_ORIGINAL_REF in tlv:
            parsed["original"] = dict(decode_bitmaps(tlv[m.TAG_ORIGINAL_REF]))
        return parsed

    def _money(self, operation: str, apdu: Apdu) -> None:
        fields = self._parse_money(operation, apdu)
        script = self.state.next_script()
        amount = int(fields.get(0x04, 0))
        currency = int(fields.get(0x49, 978))
        ecr_ref = fields.get("ecr_ref")
        self.link.send(m.ACK)
        booked = False
        try:
            if script.outcome == "disconnect_after_ack":
                raise _Hangup()
            if script.outcome == "timeout" and not script.after_booking:
                self._silence(script.hold_s)
                return
            if script.outcome == "abort":
                raise _EcrAbort()
            delay_s = script.delay_s or (2.0 if script.outcome == "slow" else 0.0)
            self._work(delay_s, script.keepalive_s)
            try:
                entry = self.state.apply(operation, fields, script)
            except Refused as exc:
                entry = self.state.record_failure(operation, amount, currency, "declined",
                                                  exc.code, ecr_ref, script)
                self._send(m.status_information(
                    status_fields(entry, self.state.terminal_id, exc.code)))
                self._send(m.pt_abort(exc.code))
                return
            booked = True
            if script.outcome == "disconnect_after_booking":
                raise _Hangup()
            if script.outcome == "timeout":
                self._silence(script.hold_s)
                return
            if self.state.ecr_prints:
                for line in receipt_lines(entry, self.state.terminal_id):
                    self._send(m.print_line(line))
            self._send(m.status_information(status_fields(entry, self.state.terminal_id, 0)))
            if script.outcome == "disconnect_after_status":
                raise _Hangup()
            self._send(m.completion())
        except _EcrAbort:
            if booked:
                raise _Hangup() from None  # money moved: never claim otherwise
            self.state.record_failure(operation, amount, currency, "aborted",
                                      m.RC_ABORT_TIMEOUT_OR_KEY, ecr_ref, script)
            self._send(m.pt_abort(m.RC_ABORT_TIMEOUT_OR_KEY))
        except (_Hangup, TransportError):
            if not booked:
                self.state.record_failure(operation, amount, currency, "aborted",
                                          m.RC_ABORT_TIMEOUT_OR_KEY, ecr_ref, script)
            raise

    def _work(self, delay_s: float, keepalive_s: float) -> None:
        """Card reading and processor time: keep-alives every `keepalive_s` until done."""
        end = time.monotonic() + delay_s
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            self._send(m.intermediate_status(0x0E, max(3, int(keepalive_s * 4 + 1))))
            time.sleep(min(keepalive_s, max(left, 0)))

    def _silence(self, hold_s: float) -> None:
        """Say nothing until the ECR aborts or drops the link (or `hold_s` passes); the money
        state is whatever it already is. Everything else the ECR sends meanwhile is lost."""
        end = time.monotonic() + hold_s
        while time.monotonic() < end and not self.stop.is_set():
            try:
                apdu = self.link.receive(0.2)
            except TransportError as exc:
                if not exc.timeout:
                    raise
                continue
            except ZvtCodecError:
                continue
            if apdu.command == m.ECR_ABORT:
                # The ECR gave up (over serial this is the only sign of it): acknowledge, end.
                try:
                    self.link.send(m.ACK)
                except TransportError:
                    pass
                break
        raise _Hangup()


class _EcrAbort(Exception):
    """The ECR sent 06 B0 while a transaction was running."""

