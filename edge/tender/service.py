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
import logging
import time
from collections.abc import Callable
from typing import Any

from edge import carts
from edge.config import TenderConfig
from core.errors import DomainError
from edge.errors import StoreUnavailable
from edge.lanes import Principal
from edge.store.writer import Tx
from edge.tender import commands, offline, refunds
from edge.tender import rows as payment_rows
from edge.tender.machine import Payment
from edge.tender.terminal_link import TerminalLink, TerminalUnreachable, unknown
from schemas import api
from schemas import events as ev
from schemas.terminal import TerminalResult

log = logging.getLogger(__name__)

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
    def __init__(self, service: Any, link: TerminalLink | None) -> None:
        self._svc = service
        self.link = link
        cfg: TenderConfig = service.config.tender
        self.cfg = cfg
        self.offline_policy = offline.OfflinePolicy(
            floor_limit_minor=cfg.offline_floor_limit_minor, cap_minor=cfg.offline_cap_minor,
            upload_within_ms=cfg.offline_upload_within_s * 1000,
            max_age_ms=cfg.offline_max_age_s * 1000)
        # Payments whose terminal work runs in this process now: the reconciler leaves them be.
        self._in_progress: set[str] = set()

    @property
    def _writer(self):
        return self._svc.writer

    def _observe(self, tender_type: str, outcome: str, started: float) -> None:
        m = self._svc.metrics
        m.payment_seconds.labels(tender_type, outcome).observe(time.perf_counter() - started)
        m.payments_total.labels(tender_type, outcome).inc()

    def _need_link(self) -> TerminalLink:
        if self.link is None:
            raise NoTerminal("this store has no payment terminal configured ([tender] "
                             "terminal_host); take another tender")
        return self.link

    def _cart_view(self, tx: Tx, who: Principal, cart_id: str) -> api.CartView:
        cart = carts.load_for(tx.conn, cart_id, who, must_be_open=False)
        return carts.view(tx.conn, cart, self._svc.policy, tx.now_ms)

    # --- taking a tender -------------------------------------------------------------------

    async def add_tender(self, request: Any, who: Principal, cart_id: str,
                         req: api.AddTender) -> Any:
        gate = request.app.state.gate
        key = request.headers.get("idempotency-key") or ""
        request_key = f"{who.lane_id}:{key}"
        policy = self._svc.policy
        started = time.perf_counter()
        if req.tender_type != "card":
            def local(tx: Tx) -> tuple[str, Any]:
                carts.add_tender(tx, who, cart_id, req, policy, request_key)
                return "done", (201, self._cart_view(tx, who, cart_id))

            response = await gate.run_phased(request, who, req, local, _never)
            if "Idempotent-Replayed" not in response.headers:
                self._observe(req.tender_type, "captured", started)
            return response

        link = self._need_link()
        link_down = False
        if payment_rows.by_request(self._svc.reader, request_key) is None:
            # A new payment: one status enquiry first tells whether the terminal is ready and
            # the processor link up (the offline policy applies when it is not), before any
            # intent is recorded. A retry of a recorded one skips it: it is answered or
            # reconciled, never charged again.
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

        def begin(tx: Tx) -> tuple[str, Any]:
            p, fresh = commands.begin_card(
                tx, who, cart_id, req, request_key, link.terminal_id, policy.tax_mode,
                (self.offline_policy, link_down))
            if not fresh and p.payment_id in self._in_progress:
                raise PaymentInProgress(f"payment {p.payment_id} is still at the terminal")
            if not fresh and p.state != "authorizing":
                return "done", self._card_answer(tx, who, p)
            self._in_progress.add(p.payment_id)
            return "io", (p, fresh)

        async def finish(intent: tuple[Payment, bool], save: Any) -> tuple[int, Any]:
            p, fresh = intent
            try:
                async with link.session():
                    current = payment_rows.by_id(self._svc.reader, p.payment_id)
                    fresh = fresh and current is not None and current.state == "authorizing"
                    answer = None
                    if fresh:
                        result = await self._charge(link, p)

                        def record(tx: Tx) -> tuple[Payment, tuple[int, Any] | None]:
                            # The result and the view answered for it in one commit.
                            after = commands.finish_card(tx, p.payment_id, result)
                            if after.state == "authorizing":
                                return after, None
                            answer = self._card_answer(tx, who, after)
                            save(tx, *answer)  # the idempotent response in the same commit
                            return after, answer

                        outcome, answer = await self._writer.run(record)
                    else:
                        outcome = p
                    if outcome.state == "authorizing":
                        outcome = await self._reconcile_one(link, p.payment_id)
                self._observe("card", outcome.state, started)
                if outcome.state == "stored":
                    self.refresh_gauges()
                if answer is not None:
                    return answer
                return await self._writer.run(lambda tx: self._card_answer(tx, who, outcome))
            finally:
                self._in_progress.discard(p.payment_id)

        return await gate.run_phased(request, who, req, begin, finish)

    async def _status(self, link: TerminalLink):
        try:
            return await link.call("terminal_status", timeout_s=self.cfg.terminal_status_timeout_s)
        except TerminalUnreachable as exc:
            raise TerminalUnavailable(f"cannot reach the payment terminal: {exc}") from exc
        except Exception as exc:  # a driver failure is the terminal being unavailable
            raise TerminalUnavailable(f"the payment terminal failed: {exc}") from exc

    async def _charge(self, link: TerminalLink, p: Payment) -> TerminalResult:
        try:
            method = ("preauthorize" if commands.is_preauth(self._svc.reader, p.payment_id)
                      else "authorize")
            result = await link.call(method, p.amount_minor, p.currency, p.payment_id,
                                     timeout_s=self.cfg.terminal_transaction_timeout_s)
        except TerminalUnreachable as exc:
            # Nothing reached the terminal: the attempt ends with nothing taken.
            return TerminalResult(outcome="aborted", amount_minor=p.amount_minor,
                                  detail=f"terminal unreachable: {exc}")
        except Exception as exc:  # noqa: BLE001 - unknown: reconciliation decides
            log.warning("terminal authorize raised for payment %s: %s", p.payment_id, exc)
            return unknown(p.amount_minor, f"terminal error: {exc}")
        return result

    def _card_answer(self, tx: Tx, who: Principal, p: Payment) -> tuple[int, Any]:
        p = payment_rows.by_id(tx.conn, p.payment_id) or p
        if p.state in ("captured", "stored", "forwarded", "authorized"):
            return 201, self._cart_view(tx, who, p.cart_id)
        if p.state == "declined":
            return 402, CardDeclined(f"the card was declined (payment {p.payment_id}); take "
                                     "another tender", payment_id=p.payment_id, state=p.state)
        if p.state == "authorizing":
            return 503, PaymentOutcomeUnknown(
                f"the terminal's answer for payment {p.payment_id} is not known yet; retry the "
                "same request (same Idempotency-Key): it is reconciled, never charged twice",
                payment_id=p.payment_id, state=p.state)
        return 409, PaymentNotTaken(
            f"payment {p.payment_id} ended {p.state}: nothing was taken; take the tender again",
            payment_id=p.payment_id, state=p.state)

    # --- removing a tender -----------------------------------------------------------------

    async def remove_tender(self, request: Any, who: Principal, cart_id: str,
                            tender_id: int) -> Any:
        gate = request.app.state.gate

        def begin(tx: Tx) -> tuple[str, Any]:
            cart = carts.load_for(tx.conn, cart_id, who, must_be_open=True)
            p = cart.payment(tender_id)
            if p.tender_type != "card":
                commands.remove_local(tx, who, cart_id, tender_id)
                return "done", (200, self._cart_view(tx, who, cart_id))
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
            return "io", (intent, resumed)

        async def finish(work: tuple[Payment, bool], _save: Any) -> tuple[int, Any]:
            p, resumed = work
            link = self._need_link()
            result = TerminalResult(outcome="failed", amount_minor=p.captured_minor,
                                    detail="reversal not confirmed")
            try:
                async with link.session():
                    if resumed:
                        after = await self._reconcile_one(link, p.payment_id)
                        return await self._void_answer(who, cart_id, p, after, result)
                    try:
                        assert p.card is not None
                        result = await link.call("reverse", _terminal_ref(p.card),
                                                 timeout_s=self.cfg.terminal_transaction_timeout_s)
                    except TerminalUnreachable as exc:
                        result = TerminalResult(outcome="aborted", amount_minor=p.captured_minor,
                                                detail=f"terminal unreachable: {exc}")
                    except Exception as exc:  # noqa: BLE001
                        result = unknown(p.captured_minor, f"terminal error: {exc}")
                    after = await self._writer.run(
                        lambda tx: commands.finish_card_void(tx, p.payment_id, result))
                    if after.state == "voiding":
                        after = await self._reconcile_one(link, p.payment_id)
            finally:
                self._in_progress.discard(p.payment_id)
            return await self._void_answer(who, cart_id, p, after, result)

        return await gate.run_phased(request, who, None, begin, finish)

    async def _void_answer(self, who: Principal, cart_id: str, p: Payment, after: Payment,
                           result: TerminalResult) -> tuple[int, Any]:
        if after.state == "voided":
            return 200, await self._writer.run(lambda tx: self._cart_view(tx, who, cart_id))
        if after.state == "voiding":
            return 503, PaymentOutcomeUnknown(
                f"the reversal of payment {p.payment_id} is not confirmed yet; retry",
                payment_id=p.payment_id, state=after.state)
        why = result.detail or result.outcome
        return 409, ReversalRefused(
            f"the terminal did not reverse payment {p.payment_id} ({why}); it stays "
            f"{after.state}", payment_id=p.payment_id, state=after.state)

    # --- completing a sale over held cards ---------------------------------------------------

    async def complete(self, request: Any, who: Principal, cart_id: str, payload: Any,
                       effect: Callable[[Tx], tuple[int, Any]]) -> Any:
        """Complete a cart. Held (pre-authorized) card tenders are booked first: `capturing`
        (with the amount) commits before the book total goes to the terminal, the answer
        commits as captured (or back to authorized), and the sale completes only once every
        hold is captured — `effect` (the plain completion) runs in the same commit as the
        stored response. Without holds this is the plain completion."""
        gate = request.app.state.gate

        def begin(tx: Tx) -> tuple[str, Any]:
            # Not must_be_open: a closed cart gets the plain completion's own answer.
            cart = carts.load_for(tx.conn, cart_id, who, must_be_open=False)
            busy = [p for p in cart.payments if p.state == "capturing"]
            if any(p.payment_id in self._in_progress for p in busy):
                raise PaymentInProgress(f"cart {cart_id} is being captured on the terminal")
            fresh = commands.begin_captures(tx, cart, self._svc.policy.tax_mode,
                                             self._svc.policy.cash_increment_minor)
            work = [(p, True) for p in fresh] + [(p, False) for p in busy]
            if not work:
                return "done", effect(tx)
            self._in_progress.update(p.payment_id for p, _ in work)
            return "io", work

        async def finish(work: list[tuple[Payment, bool]], save: Any) -> tuple[int, Any]:
            link = self._need_link()
            try:
                for p, fresh in work:
                    async with link.session():
                        after = await self._capture(link, p, fresh)
                    if after.state != "captured":
                        return self._capture_refusal(after)
            finally:
                self._in_progress.difference_update(p.payment_id for p, _ in work)

            def complete_now(tx: Tx) -> tuple[int, Any]:
                status, view = effect(tx)
                save(tx, status, view)
                return status, view

            return await self._writer.run(complete_now)

        return await gate.run_phased(request, who, payload, begin, finish)

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

    def _capture_refusal(self, p: Payment) -> tuple[int, Any]:
        if p.state == "capturing":
            return 503, PaymentOutcomeUnknown(
                f"the book total of payment {p.payment_id} is not confirmed yet; retry the "
                "completion (same Idempotency-Key): it is reconciled, never booked twice",
                payment_id=p.payment_id, state=p.state)
        return 402, CaptureRefused(
            f"the terminal did not book payment {p.payment_id} (tender {p.tender_id}); it is "
            f"{p.state} — the hold stays on the card: complete again, or remove the tender "
            "to release it", payment_id=p.payment_id, state=p.state)

    # --- voiding a cart with held cards ------------------------------------------------------

    async def void_cart(self, request: Any, who: Principal, cart_id: str, payload: Any,
                        effect: Callable[[Tx], tuple[int, Any]]) -> Any:
        """Void a cart. Its held (pre-authorized, not captured) card tenders are reversed on
        the terminal first — `voiding` commits before each reversal, so the hold is released —
        and the cart is voided (`effect`) only once every hold is. A captured card still has
        to be removed first (409 `card-tender-active`, from the plain void)."""
        gate = request.app.state.gate

        def begin(tx: Tx) -> tuple[str, Any]:
            cart = carts.load_for(tx.conn, cart_id, who, must_be_open=False)
            holds = [p for p in cart.payments if p.tender_type == "card"
                     and (p.state == "authorized"
                          or (p.state == "voiding" and p.prior_state == "authorized"))]
            if cart.status != "open" or not holds:
                return "done", effect(tx)
            if any(p.payment_id in self._in_progress for p in holds):
                raise PaymentInProgress(f"cart {cart_id} is being reversed on the terminal")
            work = [(commands.begin_card_void(tx, who, cart_id, p.tender_id),
                     p.state == "voiding") for p in holds]
            self._in_progress.update(p.payment_id for p, _ in work)
            return "io", work

        async def finish(work: list[tuple[Payment, bool]], save: Any) -> tuple[int, Any]:
            link = self._need_link()
            try:
                for p, resumed in work:
                    async with link.session():
                        after, result = await self._release(link, p, resumed)
                    if after.state != "voided":
                        return await self._void_answer(who, cart_id, p, after, result)
            finally:
                self._in_progress.difference_update(p.payment_id for p, _ in work)

            def void_now(tx: Tx) -> tuple[int, Any]:
                status, view = effect(tx)
                save(tx, status, view)
                return status, view

            return await self._writer.run(void_now)

        return await gate.run_phased(request, who, payload, begin, finish)

    async def _release(self, link: TerminalLink, p: Payment,
                       resumed: bool) -> tuple[Payment, TerminalResult]:
        """Inside a session: reverse one hold (or, resumed, ask the terminal if it was)."""
        result = TerminalResult(outcome="failed", amount_minor=p.amount_minor,
                                detail="reversal not confirmed")
        if resumed:
            return await self._reconcile_one(link, p.payment_id), result
        assert p.card is not None
        try:
            result = await link.call("reverse", _terminal_ref(p.card),
                                     timeout_s=self.cfg.terminal_transaction_timeout_s)
        except TerminalUnreachable as exc:
            result = TerminalResult(outcome="aborted", amount_minor=p.amount_minor,
                                    detail=f"terminal unreachable: {exc}")
        except Exception as exc:  # noqa: BLE001 - unknown: reconciliation decides
            result = unknown(p.amount_minor, f"terminal error: {exc}")
        after = await self._writer.run(
            lambda tx: commands.finish_card_void(tx, p.payment_id, result))
        if after.state == "voiding":
            after = await self._reconcile_one(link, p.payment_id)
        return after, result

    # --- refunds ---------------------------------------------------------------------------

    async def refund(self, request: Any, who: Principal, order_id: str,
                     req: api.RefundOrder) -> Any:
        gate = request.app.state.gate
        policy = self._svc.policy
        request_key = f"{who.lane_id}:{request.headers.get('idempotency-key') or ''}"

        def begin(tx: Tx) -> tuple[str, Any]:
            plan = refunds.begin(tx, who, policy, order_id, req, request_key)
            if any(p.payment_id in self._in_progress for p in plan.card_work):
                raise PaymentInProgress(f"refund {plan.refund_id} is still at the terminal")
            if not plan.card_work:
                return "done", (201, refunds.view(tx.conn, plan.refund_id))
            if self.link is None:
                raise NoTerminal("this order was paid by card and no terminal is configured "
                                 "to refund it")
            self._in_progress.update(p.payment_id for p in plan.card_work)
            return "io", plan

        async def finish(plan: refunds.RefundPlan, _save: Any) -> tuple[int, Any]:
            link = self._need_link()
            try:
                for p in plan.card_work:
                    async with link.session():
                        if plan.resumed:
                            await self._reconcile_one(link, p.payment_id)
                        else:
                            await self._refund_card(link, p, plan.refund_id)
            finally:
                self._in_progress.difference_update(p.payment_id for p in plan.card_work)
            return 201, await self._writer.run(lambda tx: refunds.view(tx.conn, plan.refund_id))

        return await gate.run_phased(request, who, req, begin, finish)

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
        after = await self._writer.run(lambda tx: refunds.finish_card(
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
            log.warning("cannot reconcile payment %s now: %s", payment_id, exc)
            p = payment_rows.by_id(self._svc.reader, payment_id)
            assert p is not None
            return p
        if commands.unanswered(last):
            log.warning("terminal did not answer the reconciliation of payment %s: %s",
                        payment_id, last.detail if last else "")
            p = payment_rows.by_id(self._svc.reader, payment_id)
            assert p is not None
            return p
        after = await self._writer.run(lambda tx: commands.reconcile(tx, payment_id, last))
        self._svc.metrics.reconciled_total.labels(after.state).inc()
        log.info("payment %s reconciled to %s", payment_id, after.state)
        return after

    def pending_card_payments(self) -> list[Payment]:
        pending = payment_rows.in_states(self._svc.reader, RECONCILED_STATES)
        return sorted((p for p in pending if p.tender_type == "card"
                       and p.payment_id not in self._in_progress),
                      key=lambda p: (p.created_at_ms, p.payment_id))[:RECONCILE_BATCH]

    async def reconcile_pending(self) -> int:
        """Resolve every card payment left pending (after a crash, or an unknown answer)."""
        if self.link is None:
            return 0
        done = 0
        for p in self.pending_card_payments():
            async with self.link.session():
                current = payment_rows.by_id(self._svc.reader, p.payment_id)
                if current is None or current.state not in RECONCILED_STATES:
                    continue
                after = await self._reconcile_one(self.link, p.payment_id)
                done += after.state != current.state
        return done

    # --- offline: forwarding and follow-ups ------------------------------------------------

    def refresh_gauges(self) -> offline.StoredSummary:
        summary = commands.stored_summary(self._svc.reader)
        self._svc.metrics.stored_offline_count.set(summary.count)
        self._svc.metrics.stored_offline_minor.set(summary.amount_minor)
        return summary

    async def forward_stored(self, *, force: bool = False) -> api.ForwardResult:
        """If any payment is stored offline and the processor link is up, close the terminal's
        day (which forwards stored payments) and record what the processor said. Payments past
        the maximum offline age are raised as forward declines whatever the link does."""
        summary = self.refresh_gauges()
        now_ms = self._svc.clock.now_ms()
        stored = payment_rows.in_states(self._svc.reader, {"stored"})
        expired = [p.payment_id for p in stored if p.stored_at_ms is not None
                   and offline.expired(self.offline_policy, p.stored_at_ms, now_ms)]
        declined_refs: list[ev.CardRef] = []
        all_forwarded = False
        if summary.count and self.link is not None:
            async with self.link.session():
                try:
                    status = await self.link.call(
                        "terminal_status", timeout_s=self.cfg.terminal_status_timeout_s)
                    if status.online_with_processor or force:
                        eod = await self.link.call("end_of_day")
                        declined_refs = [commands.card_ref(r) for r in eod.forward_declined]
                        all_forwarded = True
                except Exception as exc:  # noqa: BLE001 - try again next turn
                    log.warning("forwarding stored payments failed: %s", exc)
                if all_forwarded or expired:
                    out = await self._writer.run(lambda tx: commands.record_forwarding(
                        tx, declined_refs, all_forwarded, expired))
                else:
                    out = commands.ForwardOutcome([], [])
        elif expired:
            out = await self._writer.run(lambda tx: commands.record_forwarding(
                tx, [], False, expired))
        else:
            out = commands.ForwardOutcome([], [])
        if out.declined:
            self._svc.metrics.forward_declined_total.inc(len(out.declined))
            log.warning("stored card payments declined after forwarding: %s", out.declined)
        after = self.refresh_gauges()
        return api.ForwardResult(forwarded=len(out.forwarded), forward_declined=len(out.declined),
                                 stored_count=after.count, stored_minor=after.amount_minor)

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
        if self.link is not None:
            with contextlib.suppress(Exception):
                await self.link.close()


def _terminal_ref(card: ev.CardRef):
    from schemas.terminal import CardReference

    return CardReference(
        terminal_id=card.terminal_id, trace_no=card.trace_no, receipt_no=card.receipt_no,
        approval_code=card.approval_code, masked_pan=card.masked_pan, card_brand=card.card_brand,
        card_token=card.card_token)


async def _never(_intent: Any, _save: Any) -> tuple[int, Any]:
    raise AssertionError("local tenders need no terminal work")
