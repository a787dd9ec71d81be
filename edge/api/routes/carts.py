"""Cart routes: thin wrappers that decode, run a `carts`/`orders` command through the
idempotency gate, and answer the resulting view."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import HeaderParameter, JSONBody, PathParameter

from edge import carts, orders
from edge.api.problems import READ_PROBLEMS, TENDER_PROBLEMS, WRITE_PROBLEMS
from edge.carts import Cart
from edge.lanes import Principal
from edge.store.writer import Tx
from schemas import api

CartId = Annotated[str, PathParameter(min_length=1, max_length=64)]
LineId = Annotated[int, PathParameter(ge=1, le=1_000_000)]
# Declared for the OpenAPI document; the idempotency gate enforces it (400 when missing).
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        description="Required on every mutating request: same key + same request replays the stored "
        "response; same key + other request is 422; while the first is running, 409.",
    ),
]


def _cart_effect(
    request: Request, fn: Callable[[Tx], Cart], status: int = 200
) -> Callable[[Tx], tuple[int, Any]]:
    service = request.app.state.service

    def effect(tx: Tx) -> tuple[int, Any]:
        cart = fn(tx)
        return status, carts.view(tx.conn, cart, service.policy, tx.now_ms)

    return effect


async def _run(request: Request, payload: Any, effect: Callable[[Tx], tuple[int, Any]]) -> Response:
    return await request.app.state.gate.run(request, request.user, payload, effect)


class CartController(Controller):
    path = "/v1/carts"
    tags = ["carts"]

    @post("/", responses=WRITE_PROBLEMS, status_code=201, summary="Open a cart on the calling lane")
    async def open_cart(
        self,
        request: Request[Principal, Any, Any],
        idempotency_key: IdempotencyKey,
        data: JSONBody[api.OpenCart],
    ) -> Response[api.CartView]:
        svc = request.app.state.service
        who = request.user
        return await _run(
            request,
            data,
            _cart_effect(request, lambda tx: carts.open_cart(tx, who, svc.policy), 201),
        )

    @get(
        "/{cart_id:str}", responses=READ_PROBLEMS, summary="A cart with totals and price-lock state"
    )
    async def get_cart(
        self, request: Request[Principal, Any, Any], cart_id: CartId
    ) -> api.CartView:
        svc = request.app.state.service
        cart = carts.load_for(svc.reader, cart_id, request.user, must_be_open=False)
        return carts.view(svc.reader, cart, svc.policy, svc.clock.now_ms())

    @post(
        "/{cart_id:str}/lines",
        responses=WRITE_PROBLEMS,
        status_code=201,
        summary="Add a line by SKU or scanned barcode",
    )
    async def add_line(
        self,
        request: Request[Principal, Any, Any],
        idempotency_key: IdempotencyKey,
        cart_id: CartId,
        data: JSONBody[api.AddLine],
    ) -> Response[api.CartView]:
        svc, who = request.app.state.service, request.user
        return await _run(
            request,
            data,
            _cart_effect(
                request, lambda tx: carts.add_line(tx, who, svc.policy, cart_id, data), 201
            ),
        )

    @patch(
        "/{cart_id:str}/lines/{line_id:int}",
        responses=WRITE_PROBLEMS,
        summary="Change a line's quantity",
    )
    async def change_qty(
        self,
        request: Request[Principal, Any, Any],
        idempotency_key: IdempotencyKey,
        cart_id: CartId,
        line_id: LineId,
        data: JSONBody[api.ChangeQty],
    ) -> Response[api.CartView]:
        who = request.user
        return await _run(
            request,
            data,
            _cart_effect(request, lambda tx: carts.change_qty(tx, who, cart_id, line_id, data)),
        )

    @delete(
        "/{cart_id:str}/lines/{line_id:int}",
        responses=WRITE_PROBLEMS,
        status_code=200,
        summary="Remove a line",
    )
    async def remove_line(
        self,
        request: Request[Principal, Any, Any],
        idempotency_key: IdempotencyKey,
        cart_id: CartId,
        line_id: LineId,
    ) -> Response[api.CartView]:
        who = request.user
        return await _run(
            request,
            None,
            _cart_effect(request, lambda tx: carts.remove_line(tx, who, cart_id, line_id)),
        )

    @post(
        "/{cart_id:str}/discounts",
        responses=WRITE_PROBLEMS,
        status_code=200,
        summary="Apply a line or cart discount",
    )
    async def discount(
        self,
        request: Request[Principal, Any, Any],
        idempotency_key: IdempotencyKey,
        cart_id: CartId,
        data: JSONBody[api.ApplyDiscount],
    ) -> Response[api.CartView]:
        svc, who = request.app.state.service, request.user
        return await _run(
            request,
            data,
            _cart_effect(
                request, lambda tx: carts.apply_discount(tx, who, svc.policy, cart_id, data)
            ),
        )

    @post(
        "/{cart_id:str}/reprice",
        responses=WRITE_PROBLEMS,
        status_code=200,
        summary="Accept current prices on lines whose lock expired",
    )
    async def reprice(
        self,
        request: Request[Principal, Any, Any],
        idempotency_key: IdempotencyKey,
        cart_id: CartId,
        data: JSONBody[api.RepriceCart],
    ) -> Response[api.CartView]:
        svc, who = request.app.state.service, request.user
        return await _run(
            request,
            data,
            _cart_effect(request, lambda tx: carts.reprice(tx, who, svc.policy, cart_id)),
        )

    @post(
        "/{cart_id:str}/tenders",
        responses=TENDER_PROBLEMS,
        status_code=201,
        summary="Add a tender: cash, card (charged on the terminal), voucher or other",
    )
    async def add_tender(
        self,
        request: Request[Principal, Any, Any],
        idempotency_key: IdempotencyKey,
        cart_id: CartId,
        data: JSONBody[api.AddTender],
    ) -> Response[api.CartView]:
        return await request.app.state.payments.add_tender(request, request.user, cart_id, data)

    @post(
        "/{cart_id:str}/void",
        responses=WRITE_PROBLEMS,
        status_code=200,
        summary="Void an open cart",
    )
    async def void(
        self,
        request: Request[Principal, Any, Any],
        idempotency_key: IdempotencyKey,
        cart_id: CartId,
        data: JSONBody[api.VoidCart],
    ) -> Response[api.CartView]:
        who = request.user
        # Held (pre-authorized) cards are released on the terminal before the cart is voided.
        return await request.app.state.payments.void_cart(
            request, who, cart_id, data,
            _cart_effect(request, lambda tx: carts.void(tx, who, cart_id, data)))

    @post(
        "/{cart_id:str}/complete",
        responses=WRITE_PROBLEMS,
        status_code=201,
        summary="Complete the sale: one sale.completed event",
    )
    async def complete(
        self,
        request: Request[Principal, Any, Any],
        idempotency_key: IdempotencyKey,
        cart_id: CartId,
        data: JSONBody[api.CompleteCart],
    ) -> Response[api.OrderView]:
        svc, who = request.app.state.service, request.user

        def effect(tx: Tx) -> tuple[int, Any]:
            order_id = orders.complete(tx, who, svc.policy, cart_id)
            svc.printing.enqueue_receipt(tx, order_id)  # never fails the sale
            return 201, orders.by_id(tx.conn, order_id)

        started = time.perf_counter()
        # Held (pre-authorized) cards are booked on the terminal before the sale completes.
        response = await request.app.state.payments.complete(request, who, cart_id, data,
                                                             effect)
        if "Idempotent-Replayed" not in response.headers:
            svc.metrics.sale_commit_seconds.observe(time.perf_counter() - started)
        return response
