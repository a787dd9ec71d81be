"""Order look-ups: by id, by receipt number, and the receipt data a printer renders."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import Parameter, PathParameter

from edge import orders
from edge.api.problems import READ_PROBLEMS
from edge.lanes import Principal
from schemas import api

OrderId = Annotated[str, PathParameter(min_length=1, max_length=64)]


def _visible(order: api.OrderView, who: Principal) -> api.OrderView:
    # Any lane of the store may look up an order (returns happen at any till); tenant and
    # store were already enforced by the auth middleware, and a store's database holds only
    # its own orders.
    return order


class OrderController(Controller):
    path = "/v1/orders"
    tags = ["orders"]

    @get("/", responses=READ_PROBLEMS, summary="Find an order by receipt number")
    async def find(
        self, request: Request[Principal, Any, Any],
        receipt_number: str = Parameter(min_length=1, max_length=64),
    ) -> api.OrderView:
        svc = request.app.state.service
        return _visible(orders.by_receipt(svc.reader, receipt_number), request.user)

    @get("/{order_id:str}", responses=READ_PROBLEMS, summary="An order by id")
    async def get_order(self, request: Request[Principal, Any, Any], order_id: OrderId) -> api.OrderView:
        svc = request.app.state.service
        return _visible(orders.by_id(svc.reader, order_id), request.user)

    @get("/{order_id:str}/receipt", responses=READ_PROBLEMS, summary="Receipt data, formatted for printing")
    async def receipt(self, request: Request[Principal, Any, Any], order_id: OrderId) -> api.ReceiptView:
        svc = request.app.state.service
        order = _visible(orders.by_id(svc.reader, order_id), request.user)
        return orders.receipt(order, svc.policy, svc.config.store.tz)
