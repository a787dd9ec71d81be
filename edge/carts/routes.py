"""Cart routes: decode, run a cart command through the idempotency gate, answer the cart view.
Tenders, voiding and completing a cart are the tender and orders domains' routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import JSONBody, PathParameter

from edge.api.deps import Injected, respond
from edge.api.problems import READ_PROBLEMS, WRITE_PROBLEMS
from edge.approvals.header import ApprovalToken, with_token
from edge.approvals.service import ApprovalService
from edge.carts import commands
from edge.carts.model import Cart, Policy, load_for
from edge.carts.views import view
from edge.lanes import Principal
from edge.store.idempotency import Mutation, answer
from edge.store.kernel import Store
from edge.store.writer import Tx
from schemas import api

CartId = Annotated[str, PathParameter(min_length=1, max_length=64)]
LineId = Annotated[int, PathParameter(ge=1, le=1_000_000)]


def cart_answer(policy: Policy, fn: Callable[[Tx], Cart], status: int = 200):
    """An effect that runs a cart command and answers the cart's view."""
    return lambda tx: answer(status, view(tx, fn(tx), policy, tx.now_ms))


class CartController(Controller):
    path = "/v1/carts"
    tags = ["carts"]
    approvals: ApprovalService
    policy: Policy
    store: Store

    @post("/", responses=WRITE_PROBLEMS, status_code=201, summary="Open a cart on the calling lane")
    async def open_cart(
        self, mutation: Injected[Mutation], data: JSONBody[api.OpenCart]
    ) -> Response[api.CartView]:
        return respond(
            await self.store.gate.run(
                mutation,
                data,
                cart_answer(
                    self.policy, lambda tx: commands.open_cart(tx, mutation.who, self.policy), 201
                ),
            )
        )

    @get(
        "/{cart_id:str}", responses=READ_PROBLEMS, summary="A cart with totals and price-lock state"
    )
    async def get_cart(self, who: Injected[Principal], cart_id: CartId) -> api.CartView:
        cart = load_for(self.store.reader, cart_id, who, must_be_open=False)
        return view(self.store.reader, cart, self.policy, self.store.clock.now_ms())

    @post(
        "/{cart_id:str}/lines",
        responses=WRITE_PROBLEMS,
        status_code=201,
        summary="Add a line by SKU or scanned barcode",
    )
    async def add_line(
        self, mutation: Injected[Mutation], cart_id: CartId, data: JSONBody[api.AddLine]
    ) -> Response[api.CartView]:
        return respond(
            await self.store.gate.run(
                mutation,
                data,
                cart_answer(
                    self.policy,
                    lambda tx: commands.add_line(tx, mutation.who, self.policy, cart_id, data),
                    201,
                ),
            )
        )

    @patch(
        "/{cart_id:str}/lines/{line_id:int}",
        responses=WRITE_PROBLEMS,
        summary="Change a line's quantity",
    )
    async def change_qty(
        self,
        mutation: Injected[Mutation],
        cart_id: CartId,
        line_id: LineId,
        data: JSONBody[api.ChangeQty],
    ) -> Response[api.CartView]:
        return respond(
            await self.store.gate.run(
                mutation,
                data,
                cart_answer(
                    self.policy,
                    lambda tx: commands.change_qty(tx, mutation.who, cart_id, line_id, data,
                                                  self.policy),
                ),
            )
        )

    @delete(
        "/{cart_id:str}/lines/{line_id:int}",
        responses=WRITE_PROBLEMS,
        status_code=200,
        summary="Remove a line",
    )
    async def remove_line(
        self, mutation: Injected[Mutation], cart_id: CartId, line_id: LineId
    ) -> Response[api.CartView]:
        return respond(
            await self.store.gate.run(
                mutation,
                None,
                cart_answer(
                    self.policy,
                    lambda tx: commands.remove_line(tx, mutation.who, cart_id, line_id,
                                                    self.policy),
                ),
            )
        )

    @post(
        "/{cart_id:str}/discounts",
        responses=WRITE_PROBLEMS,
        status_code=200,
        summary="Apply a line or cart discount",
    )
    async def discount(
        self, mutation: Injected[Mutation], cart_id: CartId, data: JSONBody[api.ApplyDiscount],
        approval_token: ApprovalToken = None,
    ) -> Response[api.CartView]:
        m = with_token(mutation, approval_token)
        return respond(
            await self.approvals.asking(self.store.gate.run(
                m,
                data,
                cart_answer(
                    self.policy,
                    lambda tx: commands.apply_discount(
                        tx, m.who, self.policy, cart_id, data, self.approvals.policy,
                        m.approval_token,
                    ),
                ),
            ))
        )

    @post(
        "/{cart_id:str}/reprice",
        responses=WRITE_PROBLEMS,
        status_code=200,
        summary="Accept current prices on lines whose lock expired",
    )
    async def reprice(
        self, mutation: Injected[Mutation], cart_id: CartId, data: JSONBody[api.RepriceCart]
    ) -> Response[api.CartView]:
        return respond(
            await self.store.gate.run(
                mutation,
                data,
                cart_answer(
                    self.policy, lambda tx: commands.reprice(tx, mutation.who, self.policy, cart_id)
                ),
            )
        )

    @post(
        "/{cart_id:str}/coupons",
        responses=WRITE_PROBLEMS,
        status_code=200,
        summary="Enter a coupon code (422 coupon-refused: unknown, or used up at this store)",
    )
    async def enter_coupon(
        self, mutation: Injected[Mutation], cart_id: CartId, data: JSONBody[api.EnterCoupon]
    ) -> Response[api.CartView]:
        return respond(
            await self.store.gate.run(
                mutation,
                data,
                cart_answer(
                    self.policy,
                    lambda tx: commands.enter_coupon(tx, mutation.who, self.policy, cart_id,
                                                     data),
                ),
            )
        )
