"""Tender routes: taking and removing tenders, voiding a cart, payments, vouchers, offline
forwarding. Thin: decode, hand to `edge.tender.service.Payments` (anything that may reach a
terminal) or a tender command through the idempotency gate, encode."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.params import JSONBody, PathParameter

from core.errors import NotFound
from edge.api.deps import Injected, respond
from edge.api.problems import READ_PROBLEMS, TENDER_PROBLEMS, WRITE_PROBLEMS
from edge.approvals.header import ApprovalToken, with_token
from edge.approvals.service import ApprovalService
from edge.carts.model import Policy
from edge.carts.routes import CartId
from edge.errors import Forbidden
from edge.lanes import Principal
from edge.payments import rows as payment_rows
from edge.payments.views import reference
from edge.store.idempotency import Mutation, answer
from edge.store.kernel import Store
from edge.tender import commands
from edge.tender.service import Payments
from schemas import api

TenderId = Annotated[int, PathParameter(ge=1, le=1_000)]
Id = Annotated[str, PathParameter(min_length=1, max_length=64)]


def _manager(who: Principal, what: str) -> None:
    if not who.is_manager:
        raise Forbidden(f"{what} needs a manager token")


class TenderController(Controller):
    path = "/v1"
    tags = ["tenders"]
    approvals: ApprovalService
    payments: Payments
    policy: Policy
    store: Store

    @post(
        "/carts/{cart_id:str}/tenders",
        responses=TENDER_PROBLEMS,
        status_code=201,
        summary="Add a tender: cash, card (charged on the lane's terminal), voucher or other",
    )
    async def add_tender(
        self, mutation: Injected[Mutation], cart_id: CartId, data: JSONBody[api.AddTender]
    ) -> Response[api.CartView]:
        return respond(await self.payments.add_tender(mutation, cart_id, data))

    @delete(
        "/carts/{cart_id:str}/tenders/{tender_id:int}",
        responses=TENDER_PROBLEMS,
        status_code=200,
        summary="Remove a tender: voids it (a card is reversed on the terminal)",
    )
    async def remove_tender(
        self, mutation: Injected[Mutation], cart_id: CartId, tender_id: TenderId
    ) -> Response[api.CartView]:
        return respond(await self.payments.remove_tender(mutation, cart_id, tender_id))

    @post(
        "/carts/{cart_id:str}/void",
        responses=WRITE_PROBLEMS,
        status_code=200,
        summary="Void an open cart (held cards are released on the terminal first)",
    )
    async def void(
        self, mutation: Injected[Mutation], cart_id: CartId, data: JSONBody[api.VoidCart],
        approval_token: ApprovalToken = None,
    ) -> Response[api.CartView]:
        m = with_token(mutation, approval_token)
        return respond(await self.approvals.asking(
            self.payments.void_cart(m, cart_id, data, self.approvals.policy)))

    @get(
        "/payments/{payment_id:str}",
        responses=READ_PROBLEMS,
        summary="A payment: state, amounts and gateway reference",
    )
    async def get_payment(self, payment_id: Id) -> api.PaymentView:
        p = payment_rows.by_id(self.store.reader, payment_id)
        if p is None:
            raise NotFound(f"no payment {payment_id}")
        return api.PaymentView(
            payment_id=p.payment_id,
            cart_id=p.cart_id,
            tender_id=p.tender_id,
            order_id=p.order_id,
            lane_id=p.lane_id,
            tender_type=p.tender_type,
            state=p.state,
            currency=p.currency,
            amount_minor=p.amount_minor,
            captured_minor=p.captured_minor,
            change_minor=p.change_minor,
            refunded_minor=p.refunded_minor,
            pending_refund_minor=p.pending_refund_minor,
            reference=reference(p),
        )

    @post(
        "/vouchers",
        responses=WRITE_PROBLEMS,
        status_code=201,
        summary="Issue a gift card / store credit voucher (manager)",
    )
    async def issue_voucher(
        self, mutation: Injected[Mutation], data: JSONBody[api.IssueVoucher]
    ) -> Response[api.VoucherView]:
        _manager(mutation.who, "issuing a voucher")

        def effect(tx):
            code = commands.issue_voucher(tx, mutation.who, self.policy.currency, data)
            return answer(201, commands.voucher_view(tx.conn, code))

        return respond(await self.store.gate.run(mutation, data, effect))

    @get("/vouchers/{code:str}", responses=READ_PROBLEMS, summary="A voucher's balance")
    async def get_voucher(self, code: Id) -> api.VoucherView:
        return commands.voucher_view(self.store.reader, code)

    @post(
        "/payments/forward",
        responses=TENDER_PROBLEMS,
        status_code=200,
        summary="Forward card payments stored offline now (manager; also runs by itself)",
    )
    async def forward(
        self, mutation: Injected[Mutation], data: JSONBody[api.ForwardStored]
    ) -> Response[api.ForwardResult]:
        _manager(mutation.who, "forwarding stored payments")
        return respond(await self.payments.forward(mutation, data))
