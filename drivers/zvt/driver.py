"""`ZvtTerminal`: the payment-terminal driver for ZVT terminals over TCP (port 20007) or serial.

One transaction at a time: every public call takes the transaction lock, so a second caller
waits for the first to finish. A call sends its command, waits for the terminal's ACK
(80 00 00), then answers every terminal message with an ACK of its own until the completion
(06 0F) or abort (06 1E) arrives. Intermediate status (04 FF) means the terminal is still
working (waiting for a card, a PIN, the processor): each one moves the deadline out again, but
never past `max_transaction_s` after the terminal acknowledged the command.

Outcomes: an abort with result code 6C (timeout or abort key) is "aborted", any other abort or
non-zero result code is "declined"; status information with result 00 is "approved", or
"stored_offline" when its payment type (BMP 19) is 0x40. No final answer in time is "timeout"
and a broken link is "failed": the money state is then unknown, the link is closed (so no late
answer can be mistaken for the next transaction's), and the caller reconciles through
`last_transaction()` (06 20 repeat receipt). Card data never leaves the terminal: only the
masked PAN (masked here if a terminal sent it whole), the expiry (BMP 0E), brand, approval
code, terminal id and trace/receipt numbers are kept.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from drivers.device import DeviceFault, StatisticsSink
from drivers.terminal import PaymentTerminal
from drivers.transports import Transport, TransportError
from drivers.transports.serial import SerialTransport
from drivers.transports.tcp import TcpTransport
from drivers.zvt import messages as m
from drivers.zvt.codec import Apdu, ZvtCodecError
from drivers.zvt.link import SerialApduLink, TcpApduLink
from schemas.devices import DeviceAddress, DeviceCause, HealthLevel, HealthResult
from schemas.terminal import (
    CardReference,
    EndOfDay,
    TerminalOperation,
    TerminalResult,
    TerminalStatus,
)

DEFAULT_TCP_PORT = 20007
LINK_CAUSES: frozenset[DeviceCause] = frozenset({"not_connected", "communication_error", "timeout"})
OPERATIONS: dict[int, TerminalOperation] = {
    0x01: "sale", 0x22: "preauth", 0x24: "book_total", 0x30: "reversal", 0x31: "refund",
}
RESULT_TEXT = {
    m.RC_ABORT_TIMEOUT_OR_KEY: "aborted at the terminal (timeout or abort key)",
    m.RC_DECLINED_DEFAULT: "declined by the issuer",
    m.RC_NO_CONNECTION: "no connection to the processor",
    m.RC_ALREADY_REVERSED: "already reversed",
    m.RC_REVERSAL_NOT_POSSIBLE: "reversal not possible",
    m.RC_PREAUTH_INCORRECT: "pre-authorization unknown or incorrect",
    m.RC_MAX_AMOUNT_EXCEEDED: "amount exceeds what may be booked or refunded",
    m.RC_FUNCTION_NOT_POSSIBLE: "function not possible",
    m.RC_PT_BUSY: "terminal busy",
}


class _Timeout(Exception):
    pass


class _Refused(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"terminal refused the command (84 {code:02X})")
        self.code = code


@dataclass
class _Exchange:
    """Everything the terminal said during one command."""

    status: m.StatusInfo | None = None
    completed: bool = False
    abort_code: int | None = None
    receipt_lines: list[str] = field(default_factory=list)
    link_error: str | None = None  # the link broke after a status information arrived


def describe(code: int | None) -> str | None:
    if code is None:
        return None
    return RESULT_TEXT.get(code, f"result code {code:02X}")


class ZvtTerminal(PaymentTerminal):
    DRIVER = "zvt"

    def __init__(
        self,
        device_id: str,
        address: DeviceAddress,
        transport: Transport | None = None,
        *,
        statistics: StatisticsSink | None = None,
        password: str = "000000",
        currency: str = "EUR",
        ecr_prints_receipts: bool = False,
        ack_timeout_s: float = 5.0,
        keepalive_grace_s: float = 15.0,
        max_transaction_s: float = 600.0,
    ) -> None:
        super().__init__(device_id, address, statistics)
        self.transport = transport or _transport_for(address)
        if address.transport == "serial":
            self._link: TcpApduLink | SerialApduLink = SerialApduLink(self.transport)
        else:
            self._link = TcpApduLink(self.transport)
        self.password = password
        self.currency = currency
        self.ecr_prints_receipts = ecr_prints_receipts
        self.ack_timeout_s = ack_timeout_s
        self.keepalive_grace_s = keepalive_grace_s
        self.max_transaction_s = max_transaction_s
        self.terminal_id: str | None = None
        self._txn = threading.Lock()

    # --- lifecycle --------------------------------------------------------------------------

    def open(self) -> None:
        with self._txn:
            try:
                self._connect()
            except DeviceFault as exc:
                self.fault(exc)
                return
            self._set("idle", "online", [])

    def close(self) -> None:
        with self._txn:
            self.transport.close()
            self._set("closed", None, [])

    def fault(self, exc: DeviceFault) -> None:
        """Count a link failure once per outage: while the terminal is already down for a link
        cause, the daemon's status polls and any retries fail again without counting again."""
        # (A call marks the terminal busy first; the causes of the outage stay until it works.)
        if exc.cause in LINK_CAUSES and self._power == "offline" and LINK_CAUSES & set(
                self._causes):
            self._set("error", "offline", [exc.cause], exc.detail or None)
            return
        super().fault(exc)

    def check_health(self, level: HealthLevel) -> HealthResult:
        self.statistics.bump(self.device_id, "health_checks")
        if level != "internal":
            return HealthResult(self.device_id, level, False, ["unsupported"],
                                "ZVT terminals offer only the internal check (status enquiry)")
        status = self.terminal_status(timeout_s=10.0)
        causes: list[DeviceCause] = [] if status.ready else list(self.status().causes)
        detail = status.detail or ("ready" if status.ready else "not ready")
        if status.ready and not status.online_with_processor:
            detail = "ready, processor link down (store-and-forward)"
        return HealthResult(self.device_id, level, status.ready, causes, detail)

    # --- payments ---------------------------------------------------------------------------

    def authorize(self, amount_minor: int, currency: str, ecr_ref: str,
                  timeout_s: float = 120.0) -> TerminalResult:
        _check_amount(amount_minor)
        apdu = m.authorization(amount_minor, m.currency_numeric(currency), ecr_ref)
        return self._payment(apdu, amount_minor, timeout_s, "sale", ecr_ref)

    def preauthorize(self, amount_minor: int, currency: str, ecr_ref: str,
                     timeout_s: float = 120.0) -> TerminalResult:
        _check_amount(amount_minor)
        apdu = m.pre_authorization(amount_minor, m.currency_numeric(currency), ecr_ref)
        return self._payment(apdu, amount_minor, timeout_s, "preauth", ecr_ref)

    def capture(self, reference: CardReference, amount_minor: int,
                timeout_s: float = 60.0) -> TerminalResult:
        _check_amount(amount_minor)
        apdu = m.book_total(reference.receipt_no, reference.trace_no, amount_minor)
        return self._payment(apdu, amount_minor, timeout_s, "book_total", None)

    def reverse(self, reference: CardReference, timeout_s: float = 60.0) -> TerminalResult:
        apdu = m.reversal(self.password, reference.receipt_no)
        return self._payment(apdu, 0, timeout_s, "reversal", None)

    def refund(self, reference: CardReference, amount_minor: int, currency: str,
               timeout_s: float = 120.0) -> TerminalResult:
        _check_amount(amount_minor)
        original = [(0x29, reference.terminal_id), (0x0B, reference.trace_no),
                    (0x87, reference.receipt_no)]
        apdu = m.refund(self.password, amount_minor, m.currency_numeric(currency), original)
        return self._payment(apdu, amount_minor, timeout_s, "refund", None)

    def last_transaction(self, timeout_s: float = 30.0) -> TerminalResult | None:
        with self._txn:
            try:
                ex = self._exchange(m.repeat_receipt(self.password), timeout_s)
            except DeviceFault as exc:
                self.fault(exc)
                outcome = "timeout" if exc.cause == "timeout" else "failed"
                return TerminalResult(outcome, 0, detail=f"repeat receipt: {exc}")
            self._set("idle", "online", [])
        if ex.status is None:
            if ex.abort_code == m.RC_FUNCTION_NOT_POSSIBLE:
                return None  # the terminal has no transaction on file
            # Refused (busy, …): the question went unanswered; it says nothing of the payment.
            return TerminalResult("failed", 0, result_code=ex.abort_code,
                                  detail=f"repeat receipt refused: {describe(ex.abort_code)}")
        return self._result(ex, 0, None, None)

    # --- administration ---------------------------------------------------------------------

    def terminal_status(self, timeout_s: float = 10.0) -> TerminalStatus:
        with self._txn:
            try:
                ex = self._exchange(m.status_enquiry(self.password), timeout_s)
            except DeviceFault as exc:
                self.fault(exc)
                return TerminalStatus(self.terminal_id, False, False, detail=str(exc))
        self._set("idle", "online", [])
        if ex.status is None:
            return TerminalStatus(self.terminal_id, False, False,
                                  detail=describe(ex.abort_code) or "no status information")
        st = ex.status
        self.terminal_id = st.terminal_id or self.terminal_id
        return TerminalStatus(
            terminal_id=self.terminal_id,
            ready=st.result_code in (None, m.RC_SUCCESS),
            online_with_processor=st.online if st.online is not None else True,
            stored_offline_count=st.stored_count,
            stored_offline_minor=st.stored_minor,
            detail=describe(st.result_code) if st.result_code else None,
        )

    def end_of_day(self, timeout_s: float = 300.0) -> EndOfDay:
        with self._txn:
            try:
                ex = self._exchange(m.end_of_day(self.password), timeout_s)
            except DeviceFault as exc:
                self.fault(exc)
                raise
        self._set("idle", "online", [])
        st = ex.status
        if ex.abort_code is not None or st is None or st.result_code not in (None, 0):
            code = ex.abort_code if ex.abort_code is not None else (st.result_code if st else None)
            cause: DeviceCause = "offline" if code == m.RC_NO_CONNECTION else "busy"
            raise DeviceFault(cause, f"end-of-day refused: {describe(code)}")
        self.terminal_id = st.terminal_id or self.terminal_id
        return EndOfDay(
            terminal_id=self.terminal_id,
            total_minor=st.amount_minor or 0,
            transactions=st.eod_transactions,
            forwarded=st.eod_forwarded,
            forward_declined=[ref for ref in map(self._reference, st.forward_declined)
                              if ref is not None],
        )

    # --- the conversation -------------------------------------------------------------------

    def _payment(self, apdu: Apdu, amount_minor: int, timeout_s: float,
                 operation: TerminalOperation, ecr_ref: str | None) -> TerminalResult:
        with self._txn:
            return self._run(apdu, amount_minor, timeout_s, operation, ecr_ref)

    def _run(self, apdu: Apdu, amount_minor: int, timeout_s: float,
             operation: TerminalOperation, ecr_ref: str | None) -> TerminalResult:
        self.statistics.bump(self.device_id, "transactions")
        try:
            ex = self._exchange(apdu, timeout_s)
        except DeviceFault as exc:
            self.fault(exc)
            outcome = "timeout" if exc.cause == "timeout" else "failed"
            return TerminalResult(outcome, amount_minor, detail=str(exc), ecr_ref=ecr_ref,
                                  operation=operation)
        if ex.link_error is not None:
            self.fault(DeviceFault("communication_error", ex.link_error))
        else:
            self._set("idle", "online", [])
        return self._result(ex, amount_minor, operation, ecr_ref)

    def _result(self, ex: _Exchange, amount_minor: int,
                operation: TerminalOperation | None, ecr_ref: str | None) -> TerminalResult:
        st = ex.status
        if st is not None:
            ecr_ref = st.ecr_ref or ecr_ref
            if st.operation in OPERATIONS:
                operation = OPERATIONS[st.operation]
            if st.amount_minor is not None:
                amount_minor = st.amount_minor
        reference = self._reference(st) if st is not None else None
        common = {"reference": reference, "receipt_lines": ex.receipt_lines,
                  "ecr_ref": ecr_ref, "operation": operation}
        code = ex.abort_code
        if code is None and st is not None and st.result_code not in (None, m.RC_SUCCESS):
            code = st.result_code
        if code is not None:
            aborted = code in (m.RC_ABORT_TIMEOUT_OR_KEY, m.RC_PT_BUSY)
            outcome = "aborted" if aborted else "declined"
            return TerminalResult(outcome, amount_minor, result_code=code,
                                  detail=describe(code), **common)  # type: ignore[arg-type]
        if st is None or reference is None:
            return TerminalResult("failed", amount_minor,
                                  detail="completion without status information: reconcile",
                                  **common)  # type: ignore[arg-type]
        outcome = "stored_offline" if st.stored_offline else "approved"
        return TerminalResult(outcome, amount_minor, result_code=m.RC_SUCCESS,
                              detail=ex.link_error, **common)  # type: ignore[arg-type]

    def _reference(self, st: m.StatusInfo) -> CardReference | None:
        if st.trace_no is None or st.receipt_no is None:
            return None
        terminal_id = st.terminal_id or self.terminal_id or ""
        if st.terminal_id:
            self.terminal_id = st.terminal_id
        return CardReference(
            terminal_id=terminal_id,
            trace_no=st.trace_no,
            receipt_no=st.receipt_no,
            approval_code=st.approval_code,
            masked_pan=m.display_pan(st.masked_pan) if st.masked_pan else None,
            card_brand=st.brand,
            expiry=st.expiry,
        )

    def _connect(self) -> None:
        """Open the transport if needed and register with the terminal (06 00)."""
        if self.transport.is_open:
            return
        try:
            self.transport.open()
        except TransportError as exc:
            raise DeviceFault("not_connected", str(exc)) from exc
        self._link.reset()
        config = m.CFG_INTERMEDIATE_STATUS
        if self.ecr_prints_receipts:
            config |= m.CFG_ECR_PRINTS_PAYMENT_RECEIPT | m.CFG_ECR_PRINTS_ADMIN_RECEIPT
        apdu = m.registration(self.password, config, m.currency_numeric(self.currency))
        try:
            ex = self._converse(apdu, self.ack_timeout_s + 5.0)
        except DeviceFault:
            self.transport.close()
            raise
        if ex.abort_code is not None:
            self.transport.close()
            raise DeviceFault("communication_error",
                              f"registration refused: {describe(ex.abort_code)}")

    def _exchange(self, apdu: Apdu, timeout_s: float) -> _Exchange:
        self._set("busy")
        self._connect()
        return self._converse(apdu, timeout_s)

    def _converse(self, apdu: Apdu, timeout_s: float) -> _Exchange:
        """Send one command and follow the terminal until completion or abort.

        Raises DeviceFault(timeout) when no final answer came in time, DeviceFault(
        communication_error) when the link broke or spoke garbage; both close the link.
        """
        ex = _Exchange()
        try:
            self._link.send(apdu)
            ack = self._link.receive(self.ack_timeout_s)
            if ack.cls == m.NAK_CLASS:
                raise _Refused(ack.ins)
            if ack.cls != m.ACK_CLASS:
                raise ZvtCodecError(f"expected ACK, got {ack!r}")
            # The terminal took the command: from here on it owes the final answer.
            started = time.monotonic()
            deadline = started + timeout_s
            hard_limit = started + max(timeout_s, self.max_transaction_s)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _Timeout()
                try:
                    msg = self._link.receive(remaining)
                except TransportError as exc:
                    if exc.timeout:
                        raise _Timeout() from exc
                    if ex.status is not None and ex.status.result_code in (None, 0):
                        # The answer arrived; only the completion was lost with the link.
                        self.transport.close()
                        ex.link_error = f"link lost before completion: {exc}"
                        return ex
                    raise
                self._link.send(m.ACK)  # every terminal message is acknowledged
                if msg.command == m.INTERMEDIATE_STATUS:
                    _code, asked_s = m.parse_intermediate_status(msg)
                    grace = float(asked_s) if asked_s else self.keepalive_grace_s
                    deadline = min(max(deadline, time.monotonic() + grace), hard_limit)
                elif msg.command == m.STATUS_INFORMATION:
                    ex.status = m.parse_status_information(msg)
                elif msg.command == m.PRINT_LINE:
                    ex.receipt_lines.append(m.parse_print_line(msg))
                elif msg.command == m.COMPLETION:
                    ex.completed = True
                    return ex
                elif msg.command == m.PT_ABORT:
                    ex.abort_code = m.parse_pt_abort(msg)
                    return ex
        except _Refused as exc:
            ex.abort_code = exc.code
            return ex
        except _Timeout:
            self._abandon()
            raise DeviceFault("timeout", f"no final answer within {timeout_s}s") from None
        except TransportError as exc:
            self.transport.close()
            if exc.timeout:  # the ACK did not come
                raise DeviceFault("timeout", f"no ACK: {exc}") from exc
            raise DeviceFault("communication_error", str(exc)) from exc
        except ZvtCodecError as exc:
            self.transport.close()
            raise DeviceFault("communication_error", f"protocol error: {exc}") from exc

    def _abandon(self) -> None:
        """Ask the terminal to abort (best effort), then drop the link so that no late answer
        to this command can be read as the answer to the next one."""
        try:
            self._link.send(m.ecr_abort())
        except TransportError:
            pass
        self.transport.close()


def _check_amount(amount_minor: int) -> None:
    if not 0 < amount_minor < 10**12:
        raise ValueError(f"amount_minor must be 1..999999999999, got {amount_minor}")


def _transport_for(address: DeviceAddress) -> Transport:
    if address.transport == "tcp":
        if address.host is None:
            raise ValueError("a TCP terminal needs a host")
        return TcpTransport(address.host, address.port or DEFAULT_TCP_PORT)
    if address.transport == "serial":
        if address.path is None:
            raise ValueError("a serial terminal needs a device path")
        return SerialTransport(address.path, 9600)
    raise ValueError(f"ZVT runs over tcp or serial, not {address.transport}")
