"""Payment-terminal contracts: what a terminal driver returns, whatever its ECR protocol.

Card data never leaves the terminal: a result carries only a masked PAN, a card token when the
terminal offers one, brand, approval code, terminal id and trace/receipt numbers. The triple
(terminal_id, trace_no, receipt_no) is the gateway reference later used for reversal and refund.
"""

from __future__ import annotations

from typing import Literal

import msgspec

TerminalOutcome = Literal[
    "approved",        # money moved (or is held, for a pre-authorization)
    "stored_offline",  # approved by the terminal's store-and-forward, to be forwarded
    "declined",        # the issuer or terminal said no; nothing moved
    "aborted",         # cancelled at the terminal or by the ECR before any money moved
    "timeout",         # no final answer: the outcome is unknown, reconcile before retrying
    "failed",          # the link or the terminal failed; the outcome is unknown
]

# What the terminal did, as reported back by `last_transaction()` (receipt repeat).
TerminalOperation = Literal["sale", "preauth", "book_total", "reversal", "refund"]


class CardReference(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    terminal_id: str
    trace_no: int
    receipt_no: int
    approval_code: str | None = None
    masked_pan: str | None = None
    card_brand: str | None = None
    card_token: str | None = None
    # The card's expiry as the terminal reports it (ZVT BMP 0E): "YYMM"; None when it sends none.
    expiry: str | None = None


class TerminalResult(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    outcome: TerminalOutcome
    amount_minor: int
    result_code: int | None = None
    reference: CardReference | None = None
    detail: str | None = None
    receipt_lines: list[str] = []
    # Echo of the caller's `ecr_ref` and the kind of transaction, so that crash reconciliation
    # can tell whether `last_transaction()` is the payment it is asking about.
    ecr_ref: str | None = None
    operation: TerminalOperation | None = None


class TerminalStatus(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    terminal_id: str | None
    ready: bool
    online_with_processor: bool
    stored_offline_count: int = 0
    stored_offline_minor: int = 0
    detail: str | None = None


class EndOfDay(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    terminal_id: str | None
    total_minor: int
    transactions: int
    forwarded: int = 0
    forward_declined: list[CardReference] = []
