"""Order routes: completing a sale, looking orders up (by id, by receipt number), the receipt
data a printer renders, and refunds of an order to its original tenders."""

from __future__ import annotations

import time
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import JSONBody, Parameter, PathParameter

from core.idempotency import Fresh
from edge.api.deps import Injected, respond
from edge.api.problems import READ_PROBLEMS, TENDER_PROBLEMS, WRITE_PROBLEMS
from edge.approvals.header import ApprovalToken, with_token
from edge.approvals.service import ApprovalService
from edge.carts.model import Policy
from edge.carts.routes import CartId
from edge.loyalty.service import Loyalty
from edge.fiscal import journal
from edge.orders import commands, refunds, views
from edge.orders.views import ReceiptPrints
from edge.store.idempotency import Mutation, answer
from edge.store.kernel import Store
from edge.store.writer import Tx
from edge.tender.service import Payments
from schemas import api

OrderId = Annotated[str, PathParameter(min_length=1, max_length=64)]
Id = Annotated[str, PathParameter(min_length=1, max_length=64)]


class CompleteController(Controller):
    path = "/v1/carts"
    tags = ["carts"]
    loyalty: Loyalty
    payments: Payments
    policy: Policy
    receipts: ReceiptPrints
    store: Store

    @post(
        "/{cart_id:str}/complete",
        responses=WRITE_PROBLEMS,
        status_code=201,
        summary="Complete the sale: one sale.completed event",
    )
    async def complete(
        self, mutation: Injected[Mutation], cart_id: CartId, data: JSONBody[api.CompleteCart]
    ) -> Response[api.OrderView]:
        def effect(tx: Tx):
            order_id = commands.complete(tx, mutation.who, self.policy, cart_id)
            self.loyalty.on_sale(tx, order_id)  # the sale's one earn event, if a customer
            self.receipts.enqueue_receipt(tx, order_id)  # never fails the sale
            return answer(201, views.by_id(tx.conn, order_id, self.receipts))

        started = time.perf_counter()
        # Held (pre-authorized) cards are booked on the terminal before the sale completes.
        outcome = await self.payments.complete(mutation, cart_id, data, effect)
        if isinstance(outcome, Fresh):
            self.store.metrics.sale_commit_seconds.observe(time.perf_counter() - started)
        return respond(outcome)


class OrderController(Controller):
    path = "/v1"
    tags = ["orders"]
    approvals: ApprovalService
    loyalty: Loyalty
    payments: Payments
    policy: Policy
    receipts: ReceiptPrints
    store: Store

    # Any lane of the store may look up an order (returns happen at any till); tenant and
    # store were already enforced by the auth middleware, and a store's database holds only
    # its own orders.

    @get("/orders", responses=READ_PROBLEMS, summary="Find an order by receipt number")
    async def find(
        self, receipt_number: str = Parameter(min_length=1, max_length=64)
    ) -> api.OrderView:
        return views.by_receipt(self.store.reader, receipt_number, self.receipts)

    @get("/orders/{order_id:str}", responses=READ_PROBLEMS, summary="An order by id")
    async def get_order(self, order_id: OrderId) -> api.OrderView:
        return views.by_id(self.store.reader, order_id, self.receipts)

    @get(
        "/orders/{order_id:str}/receipt",
        responses=READ_PROBLEMS,
        summary="Receipt data, formatted for printing",
    )
    async def receipt(self, order_id: OrderId) -> api.ReceiptView:
        order = views.by_id(self.store.reader, order_id)
        return views.receipt(order, self.policy, self.store.identity.tz,
                             fiscal=journal.stamp_for_order(self.store.reader, order_id))

    @post(
        "/orders/{order_id:str}/refunds",
        responses=TENDER_PROBLEMS,
        status_code=201,
        summary="Refund an order (whole or lines) to its original tenders",
    )
    async def refund(
        self, mutation: Injected[Mutation], order_id: OrderId, data: JSONBody[api.RefundOrder],
        approval_token: ApprovalToken = None,
    ) -> Response[api.RefundView]:
        m = with_token(mutation, approval_token)
        return respond(
            await self.approvals.asking(self.payments.refund(
                m,
                data,
                lambda tx: self._begin_refund(tx, m, order_id, data),
                lambda tx, refund_id: answer(201, refunds.view(tx.conn, refund_id)),
            ))
        )

    def _begin_refund(self, tx: Tx, mutation: Mutation, order_id: str,
                      data: api.RefundOrder) -> refunds.CardRefunds:
        begun = refunds.begin(tx, mutation.who, self.policy, order_id, data,
                              mutation.request_key, self.approvals.policy,
                              mutation.approval_token)
        if not begun.resumed:
            self.loyalty.after_refund(tx, begun.refund_id)  # claw back, points given back
        return begun

    @get("/refunds/{refund_id:str}", responses=READ_PROBLEMS, summary="A refund and its split")
    async def get_refund(self, refund_id: Id) -> api.RefundView:
        return refunds.view(self.store.reader, refund_id)
