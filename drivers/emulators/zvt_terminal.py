"""A ZVT payment terminal emulator that speaks the real bytes over a real TCP socket or a pty.

It answers the commands `drivers/zvt/driver.py` sends, with the same `messages` functions, and
keeps its own journal of what it did with money (booked, stored offline, reversed, refunded,
pre-authorization held/captured/released), which tests assert on ("each order charged exactly
once" is checked against this journal, not against what the ECR believes).

Outcomes are scripted per next money command (`script`) or as a default (`set_default`):
approve, decline, abort, timeout (ACK then silence; optionally after the money moved),
disconnect_after_ack, disconnect_after_booking (money moved, nothing reaches the ECR),
disconnect_after_status (status information sent, completion lost), offline (approve as stored,
forwarded later, optionally declined on forward) and slow (a delay with 04 FF keep-alives).
`set_link(False)` takes the processor link down: sales are then stored, other money commands
refused with A3; `set_link(True)` forwards the stored payments.

Invariants: one transaction at a time across all connections (a second one gets 84 9C); a
transaction either leaves the journal untouched or adds exactly one entry, and money moves at
most once per command whatever happens to the link afterwards.

Run standalone: `python -m drivers.emulators.zvt_terminal --port 20007 [--serial]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import select
import signal
import socket
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Self

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

OUTCOMES = (
    "approve", "decline", "abort", "timeout", "disconnect_after_ack",
    "disconnect_after_booking", "disconnect_after_status", "offline", "slow",
)
MONEY_COMMANDS = {
    m.AUTHORIZATION: "sale", m.PRE_AUTHORIZATION: "preauth", m.BOOK_TOTAL: "book_total",
    m.REVERSAL: "reversal", m.REFUND: "refund",
}
OPERATION_CODES = {"sale": 0x01, "preauth": 0x22, "book_total": 0x24, "reversal": 0x30,
                   "refund": 0x31}
ECR_ACK_TIMEOUT_S = 5.0
BUSY_WAIT_S = 5.0


@dataclass(frozen=True)
class Script:
    outcome: str = "approve"
    result_code: int = m.RC_DECLINED_DEFAULT
    delay_s: float = 0.0
    keepalive_s: float = 0.5
    forward_decline: bool = False
    after_booking: bool = False     # timeout: book first, then fall silent
    hold_s: float = 60.0            # timeout: how long to stay silent at most

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}; one of {OUTCOMES}")


@dataclass
class JournalEntry:
    """One money transaction as the terminal recorded it.

    states: sale/book_total: booked | stored | forward_declined | reversed | refunded |
    declined | aborted; preauth: held | captured | released | declined | aborted;
    reversal/refund: done | declined | aborted.
    """

    receipt_no: int
    trace_no: int
    operation: str
    amount_minor: int
    currency: int
    state: str
    result_code: int = 0
    ecr_ref: str | None = None
    stored_offline: bool = False
    forward_decline: bool = False
    refunded_minor: int = 0
    original_receipt_no: int | None = None
    masked_pan: str = "4999EEEEEEEE1234"
    card_type: int = 10
    card_name: str = "VISA"
    approval_code: str | None = None

    @property
    def net_minor(self) -> int:
        """Money this entry took from the card, net of refunds (0 unless it moved money)."""
        if self.operation in ("sale", "book_total") and self.state in (
                "booked", "stored", "refunded"):
            return self.amount_minor - self.refunded_minor
        return 0


class _Hangup(Exception):
    """The script says: drop the link now."""


class _Refuse(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"refused {code:02X}")
        self.code = code


class TerminalState:
    """The terminal's books and scripts; every method is atomic under one lock."""

    def __init__(self, terminal_id: str, journal_path: Path | None) -> None:
        self.terminal_id = terminal_id
        self.journal_path = journal_path
        self.link_up = True
        self.ecr_prints = False
        self.busy = threading.Lock()
        self._lock = threading.RLock()
        self._entries: list[JournalEntry] = []
        self._scripts: list[Script] = []
        self._default = Script()
        self._trace = 0
        self._receipt = 0
        self._day_start = 0
        self._forwarded_today = 0
        self._declined_on_forward: list[JournalEntry] = []

    # --- control surface -----------------------------------------------------------------

    def script(self, outcome: str, times: int = 1, **params: object) -> None:
        one = Script(outcome, **params)  # type: ignore[arg-type]
        with self._lock:
            self._scripts.extend([one] * times)

    def set_default(self, outcome: str, **params: object) -> None:
        with self._lock:
            self._default = Script(outcome, **params)  # type: ignore[arg-type]

    def next_script(self) -> Script:
        with self._lock:
            return self._scripts.pop(0) if self._scripts else self._default

    def set_link(self, up: bool) -> None:
        with self._lock:
            self.link_up = up
            if up:
                self._forward()

    def journal(self) -> list[JournalEntry]:
        with self._lock:
            return [dataclasses.replace(e) for e in self._entries]

    # --- books -----------------------------------------------------------------------------

    def _new(self, operation: str, amount: int, currency: int, state: str, **kw: object
             ) -> JournalEntry:
        self._trace = self._trace % 999_999 + 1
        self._receipt = self._receipt % 9_999 + 1
        entry = JournalEntry(self._receipt, self._trace, operation, amount, currency, state,
                             **kw)  # type: ignore[arg-type]
        if state in ("booked", "stored", "held", "done"):
            entry.approval_code = f"{self._trace * 7919 % 1_000_000:06d}"
        self._entries.append(entry)
        self._save()
        return entry

    def _find(self, receipt_no: int, operations: tuple[str, ...]) -> JournalEntry | None:
        for entry in reversed(self._entries):
            if entry.receipt_no == receipt_no and entry.operation in operations:
                return entry
        return None

    def record_failure(self, operation: str, amount: int, currency: int, state: str,
                       code: int, ecr_ref: str | None) -> JournalEntry:
        with self._lock:
            return self._new(operation, amount, currency, state, result_code=code,
                             ecr_ref=ecr_ref)

    def apply(self, operation: str, fields: dict, script: Script) -> JournalEntry:
        """Move the money for one command, or raise _Refuse(result code). Atomic."""
        with self._lock:
            amount = int(fields.get(0x04, 0))
            currency = int(fields.get(0x49, 978))
            ecr_ref = fields.get("ecr_ref")
            if operation == "sale":
                if script.outcome == "decline":
                    raise _Refuse(script.result_code)
                if script.outcome == "offline" or not self.link_up:
                    return self._new("sale", amount, currency, "stored", ecr_ref=ecr_ref,
                                     stored_offline=True,
                                     forward_decline=script.forward_decline)
                return self._new("sale", amount, currency, "booked", ecr_ref=ecr_ref)
            if script.outcome == "decline":
                raise _Refuse(script.result_code)
            if operation == "preauth":
                if not self.link_up:
                    raise _Refuse(m.RC_NO_CONNECTION)
                return self._new("preauth", amount, currency, "held", ecr_ref=ecr_ref)
            if operation == "book_total":
                held = self._find(int(fields.get(0x87, -1)), ("preauth",))
                if held is None or held.state != "held":
                    raise _Refuse(m.RC_PREAUTH_INCORRECT)
                if amount > held.amount_minor:
                    raise _Refuse(m.RC_MAX_AMOUNT_EXCEEDED)
                if not self.link_up:
                    raise _Refuse(m.RC_NO_CONNECTION)
                held.state = "captured"
                return self._new("book_total", amount, held.currency, "booked",
                                 ecr_ref=held.ecr_ref, original_receipt_no=held.receipt_no)
            if operation == "reversal":
                return self._reverse(int(fields.get(0x87, -1)))
            return self._refund(amount, currency, fields.get("original"))

    def _reverse(self, receipt_no: int) -> JournalEntry:
        original = self._find(receipt_no, ("sale", "preauth", "book_total"))
        if original is None:
            raise _Refuse(m.RC_REVERSAL_NOT_POSSIBLE)
        if original.state in ("reversed", "released"):
            raise _Refuse(m.RC_ALREADY_REVERSED)
        if original.state not in ("booked", "stored", "held") or original.refunded_minor:
            raise _Refuse(m.RC_REVERSAL_NOT_POSSIBLE)
        if not self.link_up and original.state != "stored":
            raise _Refuse(m.RC_NO_CONNECTION)
        original.state = "released" if original.operation == "preauth" else "reversed"
        if original.operation == "book_total" and original.original_receipt_no is not None:
            pass  # the hold was consumed by the booking; reversing the booking ends it
        return self._new("reversal", original.amount_minor, original.currency, "done",
                         ecr_ref=original.ecr_ref, original_receipt_no=original.receipt_no)

    def _refund(self, amount: int, currency: int, original_ref: dict | None) -> JournalEntry:
        if not self.link_up:
            raise _Refuse(m.RC_NO_CONNECTION)
        original = None
        if original_ref is not None:
            original = self._find(int(original_ref.get(0x87, -1)), ("sale", "book_total"))
        if original is None or original.trace_no != original_ref.get(0x0B):
            raise _Refuse(m.RC_FUNCTION_NOT_POSSIBLE)
        if original.state not in ("booked", "stored"):
            raise _Refuse(m.RC_ALREADY_REVERSED if original.state == "reversed"
                          else m.RC_FUNCTION_NOT_POSSIBLE)
        if amount > original.amount_minor - original.refunded_minor:
            raise _Refuse(m.RC_MAX_AMOUNT_EXCEEDED)
        original.refunded_minor += amount
        if original.refunded_minor == original.amount_minor:
            original.state = "refunded"
        return self._new("refund", amount, currency, "done", ecr_ref=original.ecr_ref,
                         original_receipt_no=original.receipt_no)

    def _forward(self) -> None:
        for entry in self._entries:
            if entry.state != "stored":
                continue
            self._forwarded_today += 1
            if entry.forward_decline:
                entry.state = "forward_declined"
                self._declined_on_forward.append(entry)
            else:
                entry.state = "booked"
        self._save()

    def stored(self) -> list[JournalEntry]:
        with self._lock:
            return [e for e in self._entries if e.state == "stored"]

    def end_of_day(self) -> tuple[int, int, int, list[JournalEntry]]:
        """(total, transactions, forwarded, forward-declined) of the day; starts a new day."""
        with self._lock:
            if not self.link_up:
                raise _Refuse(m.RC_NO_CONNECTION)
            self._forward()
            day = self._entries[self._day_start:]
            total = sum(e.amount_minor for e in day if e.operation in ("sale", "book_total")
                        and e.state in ("booked", "refunded"))
            total -= sum(e.amount_minor for e in day if e.operation == "refund")
            count = sum(1 for e in day if e.state not in ("declined", "aborted"))
            result = (max(total, 0), count, self._forwarded_today,
                      list(self._declined_on_forward))
            self._day_start = len(self._entries)
            self._forwarded_today = 0
            self._declined_on_forward.clear()
            return result

    def last(self) -> JournalEntry | None:
        with self._lock:
            return dataclasses.replace(self._entries[-1]) if self._entries else None

    def _save(self) -> None:
        if self.journal_path is None:
            return
        tmp = self.journal_path.with_suffix(".tmp")
        rows = [dataclasses.asdict(e) for e in self._entries]
        tmp.write_text(json.dumps(rows))
        os.replace(tmp, self.journal_path)


def status_fields(entry: JournalEntry, terminal_id: str, result_code: int) -> Bitmaps:
    now = time.localtime()
    tlv = [Tlv(m.TAG_OPERATION, bytes((OPERATION_CODES[entry.operation],)))]
    if entry.ecr_ref:
        tlv.append(Tlv(m.TAG_ECR_REF, entry.ecr_ref.encode("utf-8")))
    fields: Bitmaps = [
        (0x27, result_code), (0x04, entry.amount_minor), (0x49, entry.currency),
        (0x0B, entry.trace_no), (0x0C, time.strftime("%H%M%S", now)),
        (0x0D, time.strftime("%m%d", now)), (0x87, entry.receipt_no), (0x29, terminal_id),
        (0x19, m.PAYMENT_TYPE_OFFLINE if entry.stored_offline else m.PAYMENT_TYPE_ONLINE),
        (0x22, entry.masked_pan), (0x8A, entry.card_type), (0x8B, entry.card_name),
    ]
    if entry.approval_code and result_code == 0:
        fields.append((0x3B, m.approval_bytes(entry.approval_code)))
    fields.append((0x06, tuple(tlv)))
    return fields


def receipt_lines(entry: JournalEntry, terminal_id: str) -> list[str]:
    pan = m.display_pan(entry.masked_pan)
    return [
        "NOVAPOS EMULATED TERMINAL", f"TID {terminal_id}", f"{entry.card_name} {pan}",
        f"{entry.operation.upper()} {entry.amount_minor} MINOR {entry.currency:03d}",
        f"TRACE {entry.trace_no:06d} RECEIPT {entry.receipt_no:04d}",
        f"APPROVAL {entry.approval_code or '-'}",
    ]


class _Session:
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
        if not self.state.busy.acquire(timeout=BUSY_WAIT_S):
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
        except _Refuse as exc:
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
            except _Refuse as exc:
                entry = self.state.record_failure(operation, amount, currency, "declined",
                                                  exc.code, ecr_ref)
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
                                      m.RC_ABORT_TIMEOUT_OR_KEY, ecr_ref)
            self._send(m.pt_abort(m.RC_ABORT_TIMEOUT_OR_KEY))
        except (_Hangup, TransportError):
            if not booked:
                self.state.record_failure(operation, amount, currency, "aborted",
                                          m.RC_ABORT_TIMEOUT_OR_KEY, ecr_ref)
            raise

    def _work(self, delay_s: float, keepalive_s: float) -> None:
        """Card reading and processor time: keep-alives every `keepalive_s` until done."""
        end = time.monotonic() + delay_s
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            self._send(m.intermediate_status(0x0E, max(1, int(keepalive_s * 4 + 1))))
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


# --- the terminal's end of real transports ---------------------------------------------------


class _SocketTransport:
    """An accepted TCP connection as a `Transport`."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock: socket.socket | None = sock

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def open(self) -> None:
        pass

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def write(self, data: bytes) -> None:
        if self._sock is None:
            raise TransportError("closed")
        try:
            self._sock.sendall(data)
        except OSError as exc:
            self.close()
            raise TransportError(f"send: {exc}") from exc

    def read(self, size: int, timeout_s: float) -> bytes:
        if self._sock is None:
            raise TransportError("closed")
        try:
            self._sock.settimeout(max(timeout_s, 0.001))
            data = self._sock.recv(size)
        except TimeoutError as exc:
            raise TransportError("timeout", timeout=True) from exc
        except OSError as exc:
            self.close()
            raise TransportError(f"recv: {exc}") from exc
        if not data:
            self.close()
            raise TransportError("ECR closed the connection")
        return data

    def read_exactly(self, size: int, timeout_s: float) -> bytes:
        raise NotImplementedError("links read through read()")


class _PtyTransport:
    """The master side of a pty as a `Transport`; the ECR opens the slave path with pyserial."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @property
    def is_open(self) -> bool:
        return self.fd >= 0

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass  # a serial line has no connection to drop; the pty lives as long as the emulator

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except OSError as exc:
                raise TransportError(f"pty write: {exc}") from exc
            view = view[written:]

    def read(self, size: int, timeout_s: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], max(timeout_s, 0.001))
        if not ready:
            raise TransportError("timeout", timeout=True)
        try:
            return os.read(self.fd, size)
        except OSError as exc:
            raise TransportError(f"pty read: {exc}") from exc

    def read_exactly(self, size: int, timeout_s: float) -> bytes:
        raise NotImplementedError("links read through read()")


# --- the emulator --------------------------------------------------------------------------


class ZvtTerminalEmulator:
    """A ZVT terminal on a real listening TCP socket (default) or a pty (`serial=True`).

    Use as a context manager or call `start()`/`stop()`. `port` (TCP) or `serial_path` (pty
    slave, for pyserial) says where the ECR connects.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, serial: bool = False,
                 terminal_id: str = "52500001", password: str = "000000",
                 journal_path: str | Path | None = None) -> None:
        self.host = host
        self.port = port
        self.serial = serial
        self.password = password
        self.serial_path: str | None = None
        self.state = TerminalState(terminal_id, Path(journal_path) if journal_path else None)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._conns: list[_SocketTransport] = []
        self._pty: tuple[int, int] | None = None

    # control surface
    def script(self, outcome: str, times: int = 1, **params: object) -> None:
        """Script the next `times` money commands (FIFO, before the default)."""
        self.state.script(outcome, times, **params)

    def set_default(self, outcome: str, **params: object) -> None:
        self.state.set_default(outcome, **params)

    def set_link(self, up: bool) -> None:
        """Processor link up/down; coming up forwards the stored offline payments."""
        self.state.set_link(up)

    def journal(self) -> list[JournalEntry]:
        return self.state.journal()

    def charged_minor(self, ecr_ref: str) -> int:
        """What the cards behind `ecr_ref` were charged, net of refunds and reversals."""
        return sum(e.net_minor for e in self.journal() if e.ecr_ref == ecr_ref)

    # lifecycle
    def start(self) -> ZvtTerminalEmulator:
        if self.serial:
            master, slave = os.openpty()
            tty.setraw(slave)
            self._pty = (master, slave)
            self.serial_path = os.ttyname(slave)
            self._spawn(self._serve_serial, master)
        else:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(8)
            listener.settimeout(0.2)
            self._listener = listener
            self.port = listener.getsockname()[1]
            self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        for conn in list(self._conns):
            conn.close()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._pty is not None:
            for fd in self._pty:
                os.close(fd)
            self._pty = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target, *args) -> None:  # type: ignore[no-untyped-def]
        thread = threading.Thread(target=target, args=args, daemon=True,
                                  name=f"zvt-emulator-{target.__name__}")
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            transport = _SocketTransport(sock)
            self._conns.append(transport)
            self._spawn(self._serve_tcp, transport)

    def _serve_tcp(self, transport: _SocketTransport) -> None:
        try:
            _Session(self.state, TcpApduLink(transport), self._stop, self.password).run()
        finally:
            transport.close()
            if transport in self._conns:
                self._conns.remove(transport)

    def _serve_serial(self, master: int) -> None:
        link = SerialApduLink(_PtyTransport(master))
        while not self._stop.is_set():
            # The line outlives sessions: a session ends on a hang-up, the next one reads on.
            _Session(self.state, link, self._stop, self.password).run()
            self._stop.wait(0.05)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ZVT payment terminal emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=20007)
    parser.add_argument("--serial", action="store_true", help="serve on a pty instead of TCP")
    parser.add_argument("--outcome", default="approve", choices=OUTCOMES)
    parser.add_argument("--delay-s", type=float, default=0.0)
    parser.add_argument("--link-down", action="store_true", help="processor link down")
    parser.add_argument("--terminal-id", default="52500001")
    parser.add_argument("--journal", help="write the journal as JSON here after each change")
    args = parser.parse_args(argv)
    emulator = ZvtTerminalEmulator(args.host, args.port, serial=args.serial,
                                   terminal_id=args.terminal_id, journal_path=args.journal)
    emulator.set_default(args.outcome, delay_s=args.delay_s)
    if args.link_down:
        emulator.set_link(False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with emulator:
        where = emulator.serial_path if args.serial else f"{args.host}:{emulator.port}"
        print(f"zvt terminal emulator listening on {where}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
