"""Tender orchestration: the imperative shell around the tender commands and the terminal.

A card payment is three steps: (1) commit the intent (payment created + authorizing) through
the writer; (2) ask the terminal, in a worker thread, holding the terminal's session; (3) commit
the answer as the next transition. An unknown answer (timeout, broken link) is resolved at once
by asking the terminal for its last transaction, and if even that fails the payment stays
authorizing for the background reconciler — it is never guessed, and never charged twice: a
retried request finds its payment by Idempotency-Key and is reconciled instead of re-sent.

Background work (`run`): reconcile every pending card payment (at start-up and then every
`reconcile_interval_s`), forward stored offline payments when the processor link is back
(`forward_interval_s`), and keep the stored-offline gauges current.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import structlog

from core.errors import DomainError
from core.idempotency import Answer, Done, Fresh, Outcome, Pending, Refusal
from edge.approvals.rules import ApprovalPolicy
from edge.carts.model import Policy, fetch_for
from edge.carts.views import view as cart_view
from edge.errors import StoreUnavailable
from edge.lanes import Principal
from edge.loyalty.service import Loyalty
from edge.metrics import Metrics
from edge.payments import rows as payment_rows
from edge.payments.machine import Payment
from edge.store.idempotency import Finish, Mutation, answer
from edge.store.kernel import Store
from edge.store.writer import Tx
from edge.tender import commands, offline
from edge.tender.commands import CardRefunds
from edge.tender.settings import TenderConfig
from edge.tender.terminal_link import TerminalLink, TerminalUnreachable, unknown
from edge.tender.terminals import Terminals
from schemas import api
from schemas import events as ev
from schemas.terminal import CardReference, TerminalResult

log = structlog.get_logger("novapos.tender")

RECONCILE_BATCH = 50  # pending payments looked at per reconciler turn
# Card payments whose terminal outcome may be unknown: the reconciler asks the terminal.
RECONCILED_STATES = frozenset({"authorizing", "capturing", "voiding", "refund_pending"})


class NoTerminal(DomainError):
    # 409, not 5xx: the store is set up without cards; nothing is failing.
    status, slug, title = 409, "no-payment-terminal", "No payment terminal is configured"


class TerminalUnavailable(DomainError):
    status, slug, title = 503, "payment-terminal-unavailable", "The payment terminal is unavailable"
    retry_after_s = 5


class CardDeclined(DomainError):
    status, slug, title = 402, "card-declined", "The card was declined"


class PaymentNotTaken(DomainError):
    status, slug, title = 409, "payment-not-taken", "The payment was not taken"


class PaymentOutcomeUnknown(DomainError):
    status, slug, title = 503, "payment-outcome-unknown", "The terminal's answer is not known yet"
    retry_after_s = 2


class ReversalRefused(DomainError):
    status, slug, title = 409, "reversal-refused", "The terminal refused the reversal"


class CaptureRefused(DomainError):
    status, slug, title = 402, "capture-refused", "The terminal did not book the held amount"


class PaymentInProgress(DomainError):
    status, slug, title = 409, "payment-in-progress", "This payment is still in progress"
    retry_after_s = 2


class Payments:
    """The card shell over the tender commands, for every terminal of the store."""

    def __init__(self, store: Store, policy: Policy, cfg: TenderConfig, terminals: Terminals,
                 metrics: Metrics, loyalty: Loyalty | None = None) -> None:
        self._store = store
        self._loyalty = loyalty  # points tenders burn through it; None: no points tenders
        self._writer = store.writer
        self._gate = store.gate
        self._policy = policy
        self._metrics = metrics
        self.cfg = cfg
        self.terminals = terminals
        self.offline_policy = offline.OfflinePolicy(
            floor_limit_minor=cfg.offline_floor_limit_minor, cap_minor=cfg.offline_cap_minor,
            upload_within_ms=cfg.offline_upload_within_s * 1000,
            max_age_ms=cfg.offline_max_age_s * 1000)
        # Payments whose terminal work runs in this process now: the reconciler leaves them be.
        self._in_progress: set[str] = set()

    @property
    def _reader(self):
        return self._store.reader

    def _observe(self, tender_type: str, outcome: str, started: float) -> None:
        m = self._metrics
        m.payment_seconds.labels(tender_type, outcome).observe(time.perf_counter() - started)
        m.payments_total.labels(tender_type, outcome).inc()

    def _lane_link(self, lane_id: str) -> TerminalLink:
        link = self.terminals.for_lane(lane_id)
        if link is None:
            raise NoTerminal(f"lane {lane_id} has no payment terminal ([[devices.terminals]] "
                             "lists the lanes of each, or set default_terminal); take another "
                             "tender")
        return link

    def _holding(self, p: Payment) -> TerminalLink:
        link = self.terminals.holding(p)
        if link is None:
            raise NoTerminal(f"payment {p.payment_id} was taken on terminal {p.terminal_id}, "
                             "which is not configured")
        return link

    def _cart_answer(self, tx: Tx, who: Principal, cart_id: str, status: int) -> Answer:
        cart = fetch_for(tx, cart_id, who, must_be_open=False)
        return answer(status, cart_view(tx, cart, self._policy, tx.now_ms))

    # --- taking a tender -------------------------------------------------------------------

    async def add_tender(self, m: Mutation, cart_id: str,
                         req: api.AddTender) -> Outcome:
        who = m.who
        started = time.perf_counter()
        if req.tender_type != "card":
            outcome = await self._gate.run(m, req, lambda tx: self._local_tender(
                tx, who, cart_id, req, m.request_key))
            if isinstance(outcome, Fresh):
                self._observe(req.tender_type, "captured", started)
            return outcome

        async def prepare() -> tuple[TerminalLink, bool]:
            # A new payment: one status enquiry first tells whether the lane's terminal is
            # ready and its processor link up (the offline policy applies when it is not),
            # before any intent is recorded. A retry of a recorded one skips it: it is
            # answered or reconciled, never charged again.
            known = payment_rows.by_request(self._reader, m.request_key)
            if known is not None:
                return self._holding(known), False
            link = self._lane_link(who.lane_id)
            async with link.session():
                status = await self._status(link)
            if not status.ready:
                raise TerminalUnavailable(
                    f"the payment terminal is not ready: {status.detail or 'busy'}")
            link_down = not status.online_with_processor
            if link_down and req.capture == "deferred":
                # A hold needs the processor: a terminal cannot store-and-forward one.
                raise TerminalUnavailable("a pre-authorization needs the processor link, which "
                                          "is down; take the card as a sale instead")
            return link, link_down

        def begin(tx: Tx, prepared: tuple[TerminalLink, bool]) -> Done | Pending:
            link, link_down = prepared
            p, fresh = commands.begin_card(
                tx, who, cart_id, req, m.request_key, link.terminal_id, self._policy.tax_mode,
                (self.offline_policy, link_down))
            if not fresh and p.payment_id in self._in_progress:
                raise PaymentInProgress(f"payment {p.payment_id} is still at the terminal")
            if not fresh and p.state != "authorizing":
                done = self._card_answer(tx, who, p)
                if isinstance(done, Refusal):
                    raise done.error
                return Done(done)
            self._in_progress.add(p.payment_id)
            return Pending((link, p, fresh))

        async def finish(fin: Finish) -> Answer | Refusal:
            link, p, fresh = fin.intent
            try:
                async with link.session():
                    current = payment_rows.by_id(self._reader, p.payment_id)
                    fresh = fresh and current is not None and current.state == "authorizing"
                    result: Answer | Refusal | None = None
                    if fresh:
                        charged = await self._charge(link, p)

                        def record(tx: Tx) -> tuple[Payment, Answer | Refusal | None]:
                            # The result and the view answered for it in one commit.
                            after = commands.finish_card(tx, p.payment_id, charged)
                            if after.state == "authorizing":
                                return after, None
                            out = self._card_answer(tx, who, after)
                            if isinstance(out, Answer):
                                fin.record(tx, out)  # the idempotent response, same commit
                            return after, out

                        outcome, result = await self._writer.run(record)
                    else:
                        outcome = p
                    if outcome.state == "authorizing":
                        outcome = await self._reconcile_one(link, p.payment_id)
                self._observe("card", outcome.state, started)
                if outcome.state == "stored":
                    self.refresh_gauges()
                if result is not None:
                    return result
                return await self._writer.run(lambda tx: self._card_answer(tx, who, outcome))
            finally:
                self._in_progress.discard(p.payment_id)

        return await self._gate.run_phased(m, req, begin, finish, prepare=prepare)

    def _local_tender(self, tx: Tx, who: Principal, cart_id: str, req: api.AddTender,
                      request_key: str) -> Answer:
        loyalty = self._loyalty
        burn = None if loyalty is None else (
            lambda tx, payment_id, amount: loyalty.burn(tx, who, cart_id, payment_id, amount))
        commands.add_tender(tx, who, cart_id, req, self._policy, request_key, burn)
        return self._cart_answer(tx, who, cart_id, 201)

    async def _status(self, link: TerminalLink):
        try:
            return await link.call("terminal_status", timeout_s=self.cfg.terminal_status_timeout_s)
        except TerminalUnreachable as exc:
            raise TerminalUnavailable(f"cannot reach the payment terminal: {exc}") from exc
        except Exception as exc:  # a driver failure is the terminal being unavailable
            raise TerminalUnavailable(f"the payment terminal failed: {exc}") from exc

    async def _charge(self, link: TerminalLink, p: Payment) -> TerminalResult:
        try:
            method = ("preauthorize" if commands.is_preauth(self._reader, p.payment_id)
                      else "authorize")
            result = await link.call(method, p.amount_minor, p.currency, p.payment_id,
                                     timeout_s=self.cfg.terminal_transaction_timeout_s)
        except TerminalUnreachable as exc:
            # Nothing reached the terminal: the attempt ends with nothing taken.
            return TerminalResult(outcome="aborted", amount_minor=p.amount_minor,
                                  detail=f"terminal unreachable: {exc}")
        except Exception as exc:  # noqa: BLE001 - unknown: reconciliation decides
            log.warning("terminal authorize raised", payment_id=p.payment_id, error=str(exc))
            return unknown(p.amount_minor, f"terminal error: {exc}")
        return result

    def _card_answer(self, tx: Tx, who: Principal, p: Payment) -> Answer | Refusal:
        p = payment_rows.by_id(tx.conn, p.payment_id) or p
        if p.state in ("captured", "stored", "forwarded", "authorized"):
            return self._cart_answer(tx, who, p.cart_id, 201)
        if p.state == "declined":
            return Refusal(CardDeclined(f"the card was declined (payment {p.payment_id}); take "
                                        "another tender", payment_id=p.payment_id,
                                        state=p.state))
        if p.state == "authorizing":
            return Refusal(PaymentOutcomeUnknown(
                f"the terminal's answer for payment {p.payment_id} is not known yet; retry the "
                "same request (same Idempotency-Key): it is reconciled, never charged twice",
                payment_id=p.payment_id, state=p.state))
        return Refusal(PaymentNotTaken(
            f"payment {p.payment_id} ended {p.state}: nothing was taken; take the tender again",
            payment_id=p.payment_id, state=p.state))

    # --- removing a tender -----------------------------------------------------------------

    async def remove_tender(self, m: Mutation, cart_id: str,
                            tender_id: int) -> Outcome:
        who = m.who

        def begin(tx: Tx, _prepared: None) -> Done | Pending:
            cart = fetch_for(tx, cart_id, who, must_be_open=True)
            p = cart.payment(tender_id)
            if p.tender_type != "card":
                commands.remove_local(tx, who, cart_id, tender_id)
                return Done(self._cart_answer(tx, who, cart_id, 200))
            if p.payment_id in self._in_progress:
                raise PaymentInProgress(f"payment {p.payment_id} is still at the terminal")
            if p.state in ("authorizing", "capturing"):
                raise PaymentInProgress(
                    f"payment {p.payment_id} is still {p.state}; retry when it is done")
            if p.state in ("declined", "failed", "voided", "forward_declined"):
                commands.transition(tx, p, ev.PaymentVoided(  # refused by the machine: 409
                    payment_id=p.payment_id, via="local"), who.lane_id)
            resumed = p.state == "voiding"  # a retry after a crash: reconcile, never re-send
            intent = commands.begin_card_void(tx, who, cart_id, tender_id)
            self._in_progress.add(intent.payment_id)
            return Pending((intent, resumed))

        async def finish(fin: Finish) -> Answer | Refusal:
            p, resumed = fin.intent
            try:
                link = self._holding(p)
                async with link.session():
                    after, result = await self._release(link, p, resumed)
            finally:
                self._in_progress.discard(p.payment_id)
            return await self._void_answer(who, cart_id, p, after, result)

        return await self._gate.run_phased(m, None, begin, finish)

    async def _void_answer(self, who: Principal, cart_id: str, p: Payment, after: Payment,
                           result: TerminalResult) -> Answer | Refusal:
        if after.state == "voided":
            return await self._writer.run(lambda tx: self._cart_answer(tx, who, cart_id, 200))
        if after.state == "voiding":
            return Refusal(PaymentOutcomeUnknown(
                f"the reversal of payment {p.payment_id} is not confirmed yet; retry",
                payment_id=p.payment_id, state=after.state))
        why = result.detail or result.outcome
        return Refusal(ReversalRefused(
            f"the terminal did not reverse payment {p.payment_id} ({why}); it stays "
            f"{after.state}", payment_id=p.payment_id, state=after.state))

    async def _release(self, link: TerminalLink, p: Payment,
                       resumed: bool) -> tuple[Payment, TerminalResult]:
        """Inside a session: reverse one card payment (or, resumed, ask the terminal if it
        was)."""
        result = TerminalResult(outcome="failed", amount_minor=p.captured_minor or p.amount_minor,
                                detail="reversal not confirmed")
        if resumed:
            return await self._reconcile_one(link, p.payment_id), result
        assert p.card is not None
        try:
            result = await link.call("reverse", _terminal_ref(p.card),
                                     timeout_s=self.cfg.terminal_transaction_timeout_s)
        except TerminalUnreachable as exc:
            result = TerminalResult(outcome="aborted", amount_minor=result.amount_minor,
                                    detail=f"terminal unreachable: {exc}")
        except Exception as exc:  # noqa: BLE001 - unknown: reconciliation decides
            result = unknown(result.amount_minor, f"terminal error: {exc}")
        after = await self._writer.run(
            lambda tx: commands.finish_card_void(tx, p.payment_id, result))
        if after.state == "voiding":
            after = await self._reconcile_one(link, p.payment_id)
        return after, result

    # --- completing a sale over held cards ---------------------------------------------------

    async def complete(self, m: Mutation, cart_id: str, payload: Any,
                       effect: Callable[[Tx], Answer],
                       covered: Callable[[Tx], int] | None = None) -> Outcome:
        """Complete a cart. Held (pre-authorized) card tenders are booked first: `capturing`
        (with the amount) commits before the book total goes to the terminal, the answer
        commits as captured (or back to authorized), and the sale completes only once every
        hold is captured — `effect` (the plain completion) runs in the same commit as the
        stored response. Without holds this is the plain completion. `covered(tx)` (an
        exchange) judges the completion once, before any hold is booked (not again when
        resuming captures), and says what a tender `effect` adds will pay: the holds book
        only the rest; `effect` then must not judge it again."""
        who = m.who

        def begin(tx: Tx, _prepared: None) -> Done | Pending:
            # Not must_be_open: a closed cart gets the plain completion's own answer.
            cart = fetch_for(tx, cart_id, who, must_be_open=False)
            busy = [p for p in cart.payments if p.state == "capturing"]
            if any(p.payment_id in self._in_progress for p in busy):
                raise PaymentInProgress(f"cart {cart_id} is being captured on the terminal")
            # Judged once, here: not again when resuming captures a crash left (it was
            # judged in the begin that committed them).
            credit = covered(tx) if covered is not None and not busy else 0
            fresh = commands.begin_captures(tx, cart, self._policy.tax_mode,
                                             self._policy.cash_increment_minor, credit)
            work = [(p, True) for p in fresh] + [(p, False) for p in busy]
            if not work:
                return Done(effect(tx))
            self._in_progress.update(p.payment_id for p, _ in work)
            return Pending(work)

        async def finish(fin: Finish) -> Answer | Refusal:
            try:
                for p, fresh in fin.intent:
                    link = self._holding(p)
                    async with link.session():
                        after = await self._capture(link, p, fresh)
                    if after.state != "captured":
                        return self._capture_refusal(after)
            finally:
                self._in_progress.difference_update(p.payment_id for p, _ in fin.intent)

            def complete_now(tx: Tx) -> Answer:
                done = effect(tx)
                fin.record(tx, done)
                return done

            return await self._writer.run(complete_now)

        return await self._gate.run_phased(m, payload, begin, finish)

    async def _capture(self, link: TerminalLink, p: Payment, fresh: bool) -> Payment:
        """Inside a session: book the total of one hold (or, resumed after a crash, ask the
        terminal whether it was booked). Never books twice."""
        if not fresh:
            return await self._reconcile_one(link, p.payment_id)
        started = time.perf_counter()
        assert p.card is not None
        try:
            result = await link.call("capture", _terminal_ref(p.card), p.captured_minor,
                                     timeout_s=self.cfg.terminal_transaction_timeout_s)
        except TerminalUnreachable as exc:
            result = TerminalResult(outcome="aborted", amount_minor=p.captured_minor,
                                    detail=f"terminal unreachable: {exc}")
        except Exception as exc:  # noqa: BLE001 - unknown: reconciliation decides
            result = unknown(p.captured_minor, f"terminal error: {exc}")
        after = await self._writer.run(lambda tx: commands.finish_capture(tx, p.payment_id,
                                                                          result))
        if after.state == "capturing":
            after = await self._reconcile_one(link, p.payment_id)
        self._observe("card_capture", after.state, started)
        return after

    def _capture_refusal(self, p: Payment) -> Refusal:
        if p.state == "capturing":
            return Refusal(PaymentOutcomeUnknown(
                f"the book total of payment {p.payment_id} is not confirmed yet; retry the "
                "completion (same Idempotency-Key): it is reconciled, never booked twice",
                payment_id=p.payment_id, state=p.state))
        return Refusal(CaptureRefused(
            f"the terminal did not book payment {p.payment_id} (tender {p.tender_id}); it is "
            f"{p.state} — the hold stays on the card: complete again, or remove the tender "
            "to release it", payment_id=p.payment_id, state=p.state))

    # --- voiding a cart with held cards ------------------------------------------------------

    async def void_cart(self, m: Mutation, cart_id: str, req: api.VoidCart,
                        approvals: ApprovalPolicy | None = None) -> Outcome:
        """Void a cart. Its held (pre-authorized, not captured) card tenders are reversed on
        the terminal first — `voiding` commits before each reversal, so the hold is released —
        and the cart is voided only once every hold is. A captured card still has to be
        removed first (409 `card-tender-active`, from the plain void)."""
        who = m.who

        def void_now(tx: Tx, judged: bool = False) -> Answer:
            commands.void_cart(tx, who, cart_id, req, None if judged else approvals,
                               self._policy.tax_mode, m.approval_token)
            return self._cart_answer(tx, who, cart_id, 200)

        def begin(tx: Tx, _prepared: None) -> Done | Pending:
            cart = fetch_for(tx, cart_id, who, must_be_open=False)
            holds = [p for p in cart.payments if p.tender_type == "card"
                     and (p.state == "authorized"
                          or (p.state == "voiding" and p.prior_state == "authorized"))]
            if cart.status != "open" or not holds:
                return Done(void_now(tx))
            if any(p.payment_id in self._in_progress for p in holds):
                raise PaymentInProgress(f"cart {cart_id} is being reversed on the terminal")
            if approvals is not None and not any(p.state == "voiding" for p in holds):
                # Judged before the first hold is released (a resumed void was judged then).
                commands.approve_void(tx, who, cart, approvals, self._policy.tax_mode,
                                      m.approval_token, req.reason)
            work = [(commands.begin_card_void(tx, who, cart_id, p.tender_id),
                     p.state == "voiding") for p in holds]
            self._in_progress.update(p.payment_id for p, _ in work)
            return Pending(work)

        async def finish(fin: Finish) -> Answer | Refusal:
            try:
                for p, resumed in fin.intent:
                    link = self._holding(p)
                    async with link.session():
                        after, result = await self._release(link, p, resumed)
                    if after.state != "voided":
                        return await self._void_answer(who, cart_id, p, after, result)
            finally:
                self._in_progress.difference_update(p.payment_id for p, _ in fin.intent)

            def voided(tx: Tx) -> Answer:
                done = void_now(tx, judged=True)
                fin.record(tx, done)
                return done

            return await self._writer.run(voided)

        return await self._gate.run_phased(m, req, begin, finish)

    # --- refunds onto cards ----------------------------------------------------------------

    async def refund(self, m: Mutation, payload: Any, begin_refund: Callable[[Tx], CardRefunds],
                     answer_for: Callable[[Tx, str], Answer]) -> Outcome:
        """A refund recorded by `begin_refund` (cash, voucher and "other" parts settled at
        once, card parts left `refund_pending` in the same commit), then each card part sent
        to the terminal that took it — or, for a retry after a crash, reconciled with it,
        never sent twice; answered by `answer_for(tx, refund_id)`."""

        def begin(tx: Tx, _prepared: None) -> Done | Pending:
            plan = begin_refund(tx)
            if any(p.payment_id in self._in_progress for p in plan.card_work):
                raise PaymentInProgress(f"refund {plan.refund_id} is still at the terminal")
            if not plan.card_work:
                return Done(answer_for(tx, plan.refund_id))
            links = [self._holding(p) for p in plan.card_work]  # NoTerminal before any I/O
            self._in_progress.update(p.payment_id for p in plan.card_work)
            return Pending((plan, links))

        async def finish(fin: Finish) -> Answer | Refusal:
            plan, links = fin.intent
            try:
                for p, link in zip(plan.card_work, links):
                    async with link.session():
                        if plan.resumed:
                            await self._reconcile_one(link, p.payment_id)
                        else:
                            await self._refund_card(link, p, plan.refund_id)
            finally:
                self._in_progress.difference_update(p.payment_id for p in plan.card_work)
            return await self._writer.run(lambda tx: answer_for(tx, plan.refund_id))

        return await self._gate.run_phased(m, payload, begin, finish)

    async def _refund_card(self, link: TerminalLink, p: Payment, refund_id: str) -> Payment:
        assert p.card is not None
        started = time.perf_counter()
        try:
            result = await link.call("refund", _terminal_ref(p.card), p.pending_refund_minor,
                                     p.currency, timeout_s=self.cfg.terminal_transaction_timeout_s)
        except TerminalUnreachable as exc:
            result = TerminalResult(outcome="aborted", amount_minor=p.pending_refund_minor,
                                    detail=f"terminal unreachable: {exc}")
        except Exception as exc:  # noqa: BLE001
            result = unknown(p.pending_refund_minor, f"terminal error: {exc}")
        card = commands.card_ref(result.reference) if result.reference else None
        after = await self._writer.run(lambda tx: commands.finish_card_refund(
            tx, p.payment_id, refund_id, result.outcome, card, result.detail or ""))
        if after.state == "refund_pending":
            after = await self._reconcile_one(link, p.payment_id)
        self._observe("card_refund", after.state, started)
        return after

    # --- reconciliation --------------------------------------------------------------------

    async def _reconcile_one(self, link: TerminalLink, payment_id: str) -> Payment:
        """Inside a session: ask the terminal what it did last and resolve the payment. If the
        terminal cannot be asked, the payment stays pending for the background reconciler."""
        try:
            last = await link.call("last_transaction", timeout_s=self.cfg.terminal_status_timeout_s)
        except Exception as exc:  # noqa: BLE001 - cannot ask: leave it pending
            log.warning("cannot reconcile the payment now", payment_id=payment_id,
                        error=str(exc))
            return self._current(payment_id)
        if commands.unanswered(last):
            log.warning("terminal did not answer the reconciliation", payment_id=payment_id,
                        detail=last.detail if last else "")
            return self._current(payment_id)
        after = await self._writer.run(lambda tx: commands.reconcile(tx, payment_id, last))
        self._metrics.reconciled_total.labels(after.state).inc()
        log.info("payment reconciled", payment_id=payment_id, state=after.state)
        return after

    def _current(self, payment_id: str) -> Payment:
        p = payment_rows.by_id(self._reader, payment_id)
        assert p is not None
        return p

    def pending_card_payments(self) -> list[Payment]:
        pending = payment_rows.in_states(self._reader, RECONCILED_STATES)
        return sorted((p for p in pending if p.tender_type == "card"
                       and p.payment_id not in self._in_progress),
                      key=lambda p: (p.created_at_ms, p.payment_id))[:RECONCILE_BATCH]

    async def reconcile_pending(self) -> int:
        """Resolve every card payment left pending (after a crash, or an unknown answer), each
        with the terminal that holds it."""
        done = 0
        for p in self.pending_card_payments():
            link = self.terminals.holding(p)
            if link is None:
                continue
            async with link.session():
                current = payment_rows.by_id(self._reader, p.payment_id)
                if current is None or current.state not in RECONCILED_STATES:
                    continue
                after = await self._reconcile_one(link, p.payment_id)
                done += after.state != current.state
        return done

    # --- offline: forwarding and follow-ups ------------------------------------------------

    def refresh_gauges(self) -> offline.StoredSummary:
        summary = commands.stored_summary(self._reader)
        self._metrics.stored_offline_count.set(summary.count)
        self._metrics.stored_offline_minor.set(summary.amount_minor)
        return summary

    async def forward(self, m: Mutation, payload: Any) -> Outcome:
        """Forward stored offline payments now (the lane's explicit request)."""

        async def finish(_fin: Finish) -> Answer:
            return answer(200, await self.forward_stored())

        return await self._gate.run_phased(m, payload, lambda tx, _p: Pending(None), finish)

    async def forward_stored(self, *, force: bool = False) -> api.ForwardResult:
        """Per terminal holding payments stored offline: if its processor link is up, close
        its day (which forwards them) and record what the processor said. Payments past the
        maximum offline age are raised as forward declines whatever the link does."""
        self.refresh_gauges()
        now_ms = self._store.clock.now_ms()
        stored = payment_rows.in_states(self._reader, {"stored"})
        expired = [p.payment_id for p in stored if p.stored_at_ms is not None
                   and offline.expired(self.offline_policy, p.stored_at_ms, now_ms)]
        forwarded: list[str] = []
        declined: list[str] = []
        holders = {id(link): link for p in stored if (link := self.terminals.holding(p))}
        for link in holders.values():
            out = await self._forward_on(link, expired, force)
            forwarded += out.forwarded
            declined += out.declined
            expired = [pid for pid in expired if pid not in out.declined]
        if expired:
            out = await self._writer.run(lambda tx: commands.record_forwarding(
                tx, [], False, expired, held_by=lambda _p: False))
            declined += out.declined
        if declined:
            self._metrics.forward_declined_total.inc(len(declined))
            log.warning("stored card payments declined after forwarding", payments=declined)
        after = self.refresh_gauges()
        return api.ForwardResult(forwarded=len(forwarded), forward_declined=len(declined),
                                 stored_count=after.count, stored_minor=after.amount_minor)

    async def _forward_on(self, link: TerminalLink, expired: list[str],
                          force: bool) -> commands.ForwardOutcome:
        declined_refs: list[ev.CardRef] = []
        all_forwarded = False
        async with link.session():
            try:
                status = await link.call(
                    "terminal_status", timeout_s=self.cfg.terminal_status_timeout_s)
                if status.online_with_processor or force:
                    eod = await link.call("end_of_day")
                    declined_refs = [commands.card_ref(r) for r in eod.forward_declined]
                    all_forwarded = True
            except Exception as exc:  # noqa: BLE001 - try again next turn
                log.warning("forwarding stored payments failed", terminal=link.terminal_id,
                            error=str(exc))
            if not all_forwarded:
                return commands.ForwardOutcome([], [])
            return await self._writer.run(lambda tx: commands.record_forwarding(
                tx, declined_refs, True, expired,
                held_by=lambda p: self.terminals.holding(p) is link))

    async def run(self, should_stop: Callable[[], bool]) -> None:
        """Background task: reconcile at once (start-up), then on intervals."""
        since_forward_s = 0.0
        tick_s = min(self.cfg.reconcile_interval_s, self.cfg.forward_interval_s)
        while not should_stop():
            try:
                await self.reconcile_pending()
                if since_forward_s >= self.cfg.forward_interval_s:
                    since_forward_s = 0.0
                    await self.forward_stored()
                else:
                    self.refresh_gauges()
            except StoreUnavailable:
                return
            except Exception:  # background work must never kill the daemon
                log.exception("payment background work failed")
            await asyncio.sleep(tick_s)
            since_forward_s += tick_s

    async def close(self) -> None:
        for link in self.terminals:
            with contextlib.suppress(Exception):
                await link.close()


def _terminal_ref(card: ev.CardRef) -> CardReference:
    return CardReference(
        terminal_id=card.terminal_id, trace_no=card.trace_no, receipt_no=card.receipt_no,
        approval_code=card.approval_code, masked_pan=card.masked_pan, card_brand=card.card_brand,
        card_token=card.card_token, expiry=card.expiry)
