"""Return routes: find what is left to return of an order (by receipt number, order id or the
card used), quote a return before confirming it, make it (receipted: money back through the
tender domain's refund path; receiptless: store credit), read it and its receipt."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import JSONBody, Parameter, PathParameter

from core.business_day import business_date
from core.errors import InvalidInput, NotFound
from edge.api.deps import Injected, respond
from edge.api.problems import READ_PROBLEMS, TENDER_PROBLEMS, WRITE_PROBLEMS, documented
from edge.approvals.header import ApprovalToken, with_token
from edge.approvals.service import ApprovalService
from edge.carts.model import Policy
from edge.lanes import Principal
from edge.loyalty.service import Loyalty
from edge.orders import views as order_views
from edge.orders.views import ReceiptPrints
from edge.printing.service import PrintService
from edge.returns import commands, exchanges, printout, views
from edge.returns.commands import ReturnsPolicy
from edge.store.idempotency import Mutation, answer
from edge.store.kernel import Store
from edge.store.writer import Tx
from edge.tender.service import Payments
from schemas import returns as rt

ReturnId = Annotated[str, PathParameter(min_length=1, max_length=64)]
Text64 = Annotated[str | None, Parameter(min_length=1, max_length=64)]
Expiry = Annotated[str | None, Parameter(pattern=rt.CARD_EXPIRY_PATTERN,
                                         description=rt.CARD_EXPIRY_DESCRIPTION)]


def print_receipt(printing: PrintService, policy: Policy, tx: Tx, ret: rt.ReturnView) -> None:
    """Queue the return receipt on the lane's printer (never fails the return)."""
    names = views.product_names(tx.conn, [ln.sku for ln in ret.lines])
    receipt = views.receipt(ret, policy, names)
    printing.enqueue_document(tx, ret.lane_id, lambda cols: printout.document(receipt, cols))


class ReturnsController(Controller):
    path = "/v1/returns"
    tags = ["returns"]
    payments: Payments
    policy: Policy
    printing: PrintService
    approvals: ApprovalService
    loyalty: Loyalty
    returns_policy: ReturnsPolicy
    store: Store

    def _today(self) -> str:
        i = self.store.identity
        return business_date(self.store.clock.now_ms(), i.tz, i.day_close_hour)

    @get("/orders", responses=documented(400, 401, 403, 404, 422, 429),
         summary="What is left to return of an order: by receipt number, order id or card")
    async def find(self, receipt_number: Text64 = None, order_id: Text64 = None,
                   masked_pan: Text64 = None, approval_code: Text64 = None,
                   expiry: Expiry = None) -> list[rt.ReturnableOrder]:
        conn = self.store.reader
        today = self._today()
        if masked_pan is not None or approval_code is not None or expiry is not None:
            if masked_pan is None or approval_code is None or receipt_number or order_id:
                raise InvalidInput("a card is found by masked_pan and approval_code together "
                                   "(and its expiry, optionally)", field="masked_pan")
            yymm = commands.expiry_yymm(expiry) if expiry is not None else None
            ids = commands.orders_by_card(conn, masked_pan, approval_code, yymm)
            if not ids:
                raise NotFound("no order was paid by that card reference" + (
                    " with that expiry (a payment recorded before expiries were kept is found "
                    "without one)" if yymm else ""))
            heads = [commands.find_order(conn, order_id=i) for i in ids]
        else:
            heads = [commands.find_order(conn, order_id, receipt_number)]
        return [views.returnable(conn, self.returns_policy, h, today) for h in heads]

    @post("/quote", responses=WRITE_PROBLEMS, status_code=200,
          summary="Price a receipted return (fees, flags, approval) without making it")
    async def quote(self, who: Injected[Principal], data: JSONBody[rt.ReturnRequest]
                    ) -> rt.ReturnQuote:
        plan = commands.plan_receipted(self.store.reader, self.returns_policy, data,
                                       self._today())
        return commands.quote(plan, self.returns_policy)

    @post("/receiptless/quote", responses=WRITE_PROBLEMS, status_code=200,
          summary="Price a receiptless return (store credit) without making it")
    async def quote_receiptless(self, who: Injected[Principal],
                                data: JSONBody[rt.ReceiptlessReturnRequest]) -> rt.ReturnQuote:
        plan = commands.plan_receiptless(self.store.reader, self.returns_policy, data,
                                         self.store.clock.now_ms())
        return commands.quote(plan, self.returns_policy)

    @post("", responses=TENDER_PROBLEMS, status_code=201,
          summary="Make a receipted return: money back to the original tenders or store credit")
    async def create(self, mutation: Injected[Mutation], data: JSONBody[rt.ReturnRequest],
                     approval_token: ApprovalToken = None) -> Response[rt.ReturnView]:
        m = with_token(mutation, approval_token)

        def begin(tx: Tx):
            work = commands.begin_receipted(tx, m.who, self.returns_policy, data,
                                            m.request_key, m.approval_token)
            if not work.resumed:
                self.loyalty.after_refund(tx, work.refund_id)  # points of the lines back
            return work

        def answer_for(tx: Tx, refund_id: str):
            ret = views.view(tx.conn, commands.return_of_refund(tx.conn, refund_id))
            print_receipt(self.printing, self.policy, tx, ret)
            return answer(201, ret)

        return respond(await self.approvals.asking(
            self.payments.refund(m, data, begin, answer_for)))

    @post("/receiptless", responses=WRITE_PROBLEMS, status_code=201,
          summary="Make a receiptless return: store credit at the lowest recent price")
    async def create_receiptless(self, mutation: Injected[Mutation],
                                 data: JSONBody[rt.ReceiptlessReturnRequest],
                                 approval_token: ApprovalToken = None,
                                 ) -> Response[rt.ReturnView]:
        m = with_token(mutation, approval_token)

        def effect(tx: Tx):
            rid = commands.receiptless(tx, m.who, self.returns_policy, data, m.request_key,
                                       m.approval_token)
            ret = views.view(tx.conn, rid)
            print_receipt(self.printing, self.policy, tx, ret)
            return answer(201, ret)

        return respond(await self.approvals.asking(self.store.gate.run(m, data, effect)))

    @get("/{return_id:str}", responses=READ_PROBLEMS, summary="A return document")
    async def get_return(self, return_id: ReturnId) -> rt.ReturnView:
        return views.view(self.store.reader, return_id)

    @get("/{return_id:str}/receipt", responses=READ_PROBLEMS,
         summary="Return receipt data, formatted for printing")
    async def receipt(self, return_id: ReturnId) -> rt.ReturnReceiptView:
        conn = self.store.reader
        ret = views.view(conn, return_id)
        return views.receipt(ret, self.policy,
                             views.product_names(conn, [ln.sku for ln in ret.lines]))


class ExchangesController(Controller):
    path = "/v1/exchanges"
    tags = ["returns"]
    payments: Payments
    policy: Policy
    printing: PrintService
    receipts: ReceiptPrints
    approvals: ApprovalService
    loyalty: Loyalty
    returns_policy: ReturnsPolicy
    store: Store

    @post("", responses=TENDER_PROBLEMS, status_code=201,
          summary="Exchange: return lines of an order and sell an open cart, settling the "
                  "difference")
    async def create(self, mutation: Injected[Mutation], data: JSONBody[rt.ExchangeRequest],
                     approval_token: ApprovalToken = None) -> Response[rt.ExchangeView]:
        m = with_token(mutation, approval_token)

        def begin(tx: Tx, judged: bool = False):
            work, order_id = exchanges.exchange(tx, m.who, self.returns_policy,
                                                self.policy, data, m.request_key,
                                                m.approval_token, judged=judged)
            if order_id is not None:
                self.loyalty.after_refund(tx, work.refund_id)  # points of the lines back
                self.loyalty.on_sale(tx, order_id)  # the new sale earns, as any sale
                self.receipts.enqueue_receipt(tx, order_id)  # never fails the exchange
            return work

        def answer_for(tx: Tx, refund_id: str):
            returned = views.view(tx.conn, commands.return_of_refund(tx.conn, refund_id))
            assert returned.exchange_order_id is not None
            print_receipt(self.printing, self.policy, tx, returned)
            sold = order_views.by_id(tx.conn, returned.exchange_order_id, self.receipts)
            return answer(201, rt.ExchangeView(
                returned=returned, sold=sold,
                difference_minor=sold.total_minor - returned.amount_minor))

        if not exchanges.has_holds(self.store.reader, data.cart_id):
            return respond(await self.approvals.asking(
                self.payments.refund(m, data, begin, answer_for)))

        # A pre-authorized card on the new cart: judged first, then the hold books what the
        # credit leaves (the normal completion over held cards), then the exchange commits
        # with the stored response. The hold is needed only when the customer pays, so
        # nothing goes back onto a card here.
        def judged(tx: Tx) -> int:
            return exchanges.covered(tx, m.who, self.returns_policy, self.policy, data,
                                     m.approval_token)

        def effect(tx: Tx):
            work = begin(tx, judged=True)  # judged by `judged`, before any hold was booked
            if work.card_work:
                raise exchanges.HoldNotNeeded(
                    "the exchange credit covers the sale: remove the held card (that "
                    "releases its hold), then exchange")
            return answer_for(tx, work.refund_id)

        return respond(await self.approvals.asking(
            self.payments.complete(m, data.cart_id, data, effect, judged)))
