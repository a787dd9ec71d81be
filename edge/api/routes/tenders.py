"""Tender routes: taking and removing tenders, payments, refunds, vouchers, offline forwarding.

Thin: decode, hand to `edge.tender.service.Payments` (card work) or the tender commands through
the idempotency gate, encode. Every mutating route takes an Idempotency-Key; card routes use the
gate's phased mode so the terminal is never asked twice for one request.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import JSONBody, PathParameter

from edge.api.problems import READ_PROBLEMS, TENDER_PROBLEMS, WRITE_PROBLEMS
from edge.api.routes.carts import CartId, IdempotencyKey
from core.errors import NotFound
from edge.errors import Forbidden
from edge.lanes import Principal
from edge.store.writer import Tx
from edge.tender import commands, refunds
from edge.tender import rows as payment_rows
from edge.tender.views import reference
from schemas import api

TenderId = Annotated[int, PathParameter(ge=1, le=1_000)]
Id = Annotated[str, PathParameter(min_length=1, max_length=64)]


def _manager(who: Principal, what: str) -> None:
    if not who.is_manager:
        raise Forbidden(f"{what} needs a manager token")


class TenderController(Controller):
    path = "/v1"
    tags = ["tenders"]

    @delete("/carts/{cart_id:str}/tenders/{tender_id:int}", responses=TENDER_PROBLEMS,
            status_code=200, summary="Remove a tender: voids it (a card is reversed on the terminal)")
    async def remove_tender(self, request: Request[Principal, Any, Any],
                            idempotency_key: IdempotencyKey, cart_id: CartId,
                            tender_id: TenderId) -> Response[api.CartView]:
        payments = request.app.state.payments
        return await payments.remove_tender(request, request.user, cart_id, tender_id)

    @get("/payments/{payment_id:str}", responses=READ_PROBLEMS,
         summary="A payment: state, amounts and gateway reference")
    async def get_payment(self, request: Request[Principal, Any, Any],
                          payment_id: Id) -> api.PaymentView:
        p = payment_rows.by_id(request.app.state.service.reader, payment_id)
        if p is None:
            raise NotFound(f"no payment {payment_id}")
        return api.PaymentView(
            payment_id=p.payment_id, cart_id=p.cart_id, tender_id=p.tender_id,
            order_id=p.order_id, lane_id=p.lane_id, tender_type=p.tender_type, state=p.state,
            currency=p.currency, amount_minor=p.amount_minor, captured_minor=p.captured_minor,
            change_minor=p.change_minor, refunded_minor=p.refunded_minor,
            pending_refund_minor=p.pending_refund_minor, reference=reference(p))

    @post("/orders/{order_id:str}/refunds", responses=TENDER_PROBLEMS, status_code=201,
          summary="Refund an order (whole or lines) to its original tenders")
    async def refund(self, request: Request[Principal, Any, Any],
                     idempotency_key: IdempotencyKey, order_id: Id,
                     data: JSONBody[api.RefundOrder]) -> Response[api.RefundView]:
        payments = request.app.state.payments
        return await payments.refund(request, request.user, order_id, data)

    @get("/refunds/{refund_id:str}", responses=READ_PROBLEMS, summary="A refund and its split")
    async def get_refund(self, request: Request[Principal, Any, Any],
                         refund_id: Id) -> api.RefundView:
        return refunds.view(request.app.state.service.reader, refund_id)

    @post("/vouchers", responses=WRITE_PROBLEMS, status_code=201,
          summary="Issue a gift card / store credit voucher (manager)")
    async def issue_voucher(self, request: Request[Principal, Any, Any],
                            idempotency_key: IdempotencyKey,
                            data: JSONBody[api.IssueVoucher]) -> Response[api.VoucherView]:
        svc, who = request.app.state.service, request.user
        _manager(who, "issuing a voucher")

        def effect(tx: Tx) -> tuple[int, Any]:
            code = commands.issue_voucher(tx, who, svc.policy.currency, data)
            return 201, commands.voucher_view(tx.conn, code)

        return await request.app.state.gate.run(request, who, data, effect)

    @get("/vouchers/{code:str}", responses=READ_PROBLEMS, summary="A voucher's balance")
    async def get_voucher(self, request: Request[Principal, Any, Any],
                          code: Id) -> api.VoucherView:
        return commands.voucher_view(request.app.state.service.reader, code)

    @post("/payments/forward", responses=TENDER_PROBLEMS, status_code=200,
          summary="Forward card payments stored offline now (manager; also runs by itself)")
    async def forward(self, request: Request[Principal, Any, Any],
                      idempotency_key: IdempotencyKey,
                      data: JSONBody[api.ForwardStored]) -> Response[api.ForwardResult]:
        _manager(request.user, "forwarding stored payments")
        payments = request.app.state.payments

        async def finish(_intent: None, _save: Any) -> tuple[int, Any]:
            return 200, await payments.forward_stored()

        return await request.app.state.gate.run_phased(
            request, request.user, data, lambda tx: ("io", None), finish)
