"""The emulated terminal's books: its journal of money moved, its scripts, its processor link.

Pure state behind one lock, no I/O except the optional JSON copy of the journal (for tests in
another process). `apply` moves money for one command or raises `Refused(result code)`; every
money command the terminal accepts adds exactly one journal entry (declined and aborted ones
too), and money moves at most once per command whatever happens to the link afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from drivers.zvt import messages as m
from drivers.zvt.codec import Bitmaps, Tlv

OUTCOMES = (
    "approve", "decline", "abort", "timeout", "disconnect_after_ack",
    "disconnect_after_booking", "disconnect_after_status", "offline", "slow",
)
OPERATION_CODES = {"sale": 0x01, "preauth": 0x22, "book_total": 0x24, "reversal": 0x30,
                   "refund": 0x31}


@dataclass(frozen=True)
class Script:
    """What the terminal does with the next money command (see OUTCOMES and docs/zvt.md)."""

    outcome: str = "approve"
    result_code: int = m.RC_DECLINED_DEFAULT
    delay_s: float = 0.0
    keepalive_s: float = 0.5
    forward_decline: bool = False
    after_booking: bool = False     # timeout: book first, then fall silent
    hold_s: float = 60.0            # timeout: how long to stay silent at most
    masked_pan: str = "4999EEEEEEEE1234"  # the card presented (E = masked digit)
    card_name: str = "VISA"
    card_type: int = 10
    expiry: str = "2812"  # the card's expiry date, YYMM (sent as BMP 0E)

    def card(self) -> dict[str, object]:
        return {"masked_pan": self.masked_pan, "card_name": self.card_name,
                "card_type": self.card_type, "expiry": self.expiry}

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
    expiry: str = "2812"
    approval_code: str | None = None

    @property
    def net_minor(self) -> int:
        """Money this entry took from the card, net of refunds (0 unless it moved money)."""
        if self.operation in ("sale", "book_total") and self.state in (
                "booked", "stored", "refunded"):
            return self.amount_minor - self.refunded_minor
        return 0



class Refused(Exception):
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
        self.busy = threading.Lock()  # held by the session running a command
        self.busy_wait_s = 5.0  # how long a second command waits before 84 9C
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
                       code: int, ecr_ref: str | None, script: Script) -> JournalEntry:
        with self._lock:
            return self._new(operation, amount, currency, state, result_code=code,
                             ecr_ref=ecr_ref, **script.card())

    def apply(self, operation: str, fields: dict, script: Script) -> JournalEntry:
        """Move the money for one command, or raise Refused(result code). Atomic."""
        with self._lock:
            amount = int(fields.get(0x04, 0))
            currency = int(fields.get(0x49, 978))
            ecr_ref = fields.get("ecr_ref")
            if operation == "sale":
                if script.outcome == "decline":
                    raise Refused(script.result_code)
                if script.outcome == "offline" or not self.link_up:
                    return self._new("sale", amount, currency, "stored", ecr_ref=ecr_ref,
                                     **script.card(), stored_offline=True,
                                     forward_decline=script.forward_decline)
                return self._new("sale", amount, currency, "booked", ecr_ref=ecr_ref,
                                 **script.card())
            if script.outcome == "decline":
                raise Refused(script.result_code)
            if operation == "preauth":
                if not self.link_up:
                    raise Refused(m.RC_NO_CONNECTION)
                return self._new("preauth", amount, currency, "held", ecr_ref=ecr_ref,
                                 **script.card())
            if operation == "book_total":
                held = self._find(int(fields.get(0x87, -1)), ("preauth",))
                if held is None or held.state != "held":
                    raise Refused(m.RC_PREAUTH_INCORRECT)
                if amount > held.amount_minor:
                    raise Refused(m.RC_MAX_AMOUNT_EXCEEDED)
                if not self.link_up:
                    raise Refused(m.RC_NO_CONNECTION)
                held.state = "captured"
                return self._new("book_total", amount, held.currency, "booked",
                                 ecr_ref=held.ecr_ref, original_receipt_no=held.receipt_no,
                                 **_card_of(held))
            if operation == "reversal":
                return self._reverse(int(fields.get(0x87, -1)))
            return self._refund(amount, currency, fields.get("original"))

    def _reverse(self, receipt_no: int) -> JournalEntry:
        original = self._find(receipt_no, ("sale", "preauth", "book_total"))
        if original is None:
            raise Refused(m.RC_REVERSAL_NOT_POSSIBLE)
        if original.state in ("reversed", "released"):
            raise Refused(m.RC_ALREADY_REVERSED)
        if original.state not in ("booked", "stored", "held") or original.refunded_minor:
            raise Refused(m.RC_REVERSAL_NOT_POSSIBLE)
        if not self.link_up and original.state != "stored":
            raise Refused(m.RC_NO_CONNECTION)
        original.state = "released" if original.operation == "preauth" else "reversed"
        return self._new("reversal", original.amount_minor, original.currency, "done",
                         ecr_ref=original.ecr_ref, original_receipt_no=original.receipt_no,
                         **_card_of(original))

    def _refund(self, amount: int, currency: int, original_ref: dict | None) -> JournalEntry:
        if not self.link_up:
            raise Refused(m.RC_NO_CONNECTION)
        original = None
        if original_ref is not None:
            original = self._find(int(original_ref.get(0x87, -1)), ("sale", "book_total"))
        if original is None or original.trace_no != original_ref.get(0x0B):
            raise Refused(m.RC_FUNCTION_NOT_POSSIBLE)
        if original.state not in ("booked", "stored"):
            raise Refused(m.RC_ALREADY_REVERSED if original.state == "reversed"
                          else m.RC_FUNCTION_NOT_POSSIBLE)
        if amount > original.amount_minor - original.refunded_minor:
            raise Refused(m.RC_MAX_AMOUNT_EXCEEDED)
        original.refunded_minor += amount
        if original.refunded_minor == original.amount_minor:
            original.state = "refunded"
        return self._new("refund", amount, currency, "done", ecr_ref=original.ecr_ref,
                         original_receipt_no=original.receipt_no, **_card_of(original))

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
                raise Refused(m.RC_NO_CONNECTION)
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


def _card_of(entry: JournalEntry) -> dict[str, object]:
    return {"masked_pan": entry.masked_pan, "card_name": entry.card_name,
            "card_type": entry.card_type, "expiry": entry.expiry}


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
        (0x22, entry.masked_pan), (0x0E, entry.expiry), (0x8A, entry.card_type),
        (0x8B, entry.card_name),
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

