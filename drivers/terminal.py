"""The payment-terminal interface, one per ECR protocol (ZVT in `drivers/zvt/`).

Calls block until the terminal gives its final answer or `timeout_s` passes; a timeout or a
broken link returns outcome "timeout"/"failed" (the money state is unknown) rather than raising,
so the tender state machine can reconcile with `last_transaction()` before doing anything else.
One transaction at a time per terminal: implementations serialize calls.
"""

from __future__ import annotations

from abc import abstractmethod

from drivers.device import Device
from schemas.terminal import CardReference, EndOfDay, TerminalResult, TerminalStatus


class PaymentTerminal(Device):
    KIND = "payment_terminal"

    @abstractmethod
    def authorize(self, amount_minor: int, currency: str, ecr_ref: str,
                  timeout_s: float = 120.0) -> TerminalResult:
        """Sale: authorize and capture in one step."""

    @abstractmethod
    def preauthorize(self, amount_minor: int, currency: str, ecr_ref: str,
                     timeout_s: float = 120.0) -> TerminalResult:
        """Hold an amount; `capture` books the final total later, `reverse` releases it."""

    @abstractmethod
    def capture(self, reference: CardReference, amount_minor: int,
                timeout_s: float = 60.0) -> TerminalResult:
        """Book total for a pre-authorization (amount may be lower than the hold)."""

    @abstractmethod
    def reverse(self, reference: CardReference, timeout_s: float = 60.0) -> TerminalResult:
        """Void/reversal of a transaction of the current day by its receipt number."""

    @abstractmethod
    def refund(self, reference: CardReference, amount_minor: int, currency: str,
               timeout_s: float = 120.0) -> TerminalResult:
        """Refund to the card of `reference` (partial allowed)."""

    @abstractmethod
    def last_transaction(self, timeout_s: float = 30.0) -> TerminalResult | None:
        """Repeat the last receipt: what the terminal last did, for crash reconciliation.
        None when the terminal has no transaction recorded. Compare `ecr_ref`/`operation` of
        the result with the payment being reconciled; an outcome "timeout"/"failed" here means
        the question itself went unanswered (ask again), not that the payment failed."""

    @abstractmethod
    def terminal_status(self, timeout_s: float = 10.0) -> TerminalStatus: ...

    @abstractmethod
    def end_of_day(self, timeout_s: float = 300.0) -> EndOfDay:
        """Close the terminal's day; forwards stored offline payments first."""
