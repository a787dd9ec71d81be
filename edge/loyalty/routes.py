"""Loyalty routes: find a customer (by card, phone or email, in the body so that nothing
personal lands in a URL or an access log), the customer 360 at the lane, attach a customer to
a cart."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.params import JSONBody, PathParameter

from edge.api.deps import Injected, respond
from edge.api.problems import READ_PROBLEMS, WRITE_PROBLEMS, documented
from edge.carts.model import Policy
from edge.carts.routes import CartId
from edge.loyalty.service import Loyalty
from edge.store.idempotency import Mutation, answer
from edge.store.kernel import Store
from schemas import loyalty as lo

# 409: the store has no loyalty key; 422: not exactly one of card, phone, email.
LOOKUP_PROBLEMS = documented(400, 401, 403, 404, 409, 422, 429)
CustomerId = Annotated[str, PathParameter(min_length=1, max_length=64)]


class LoyaltyController(Controller):
    path = "/v1"
    tags = ["loyalty"]
    loyalty: Loyalty
    policy: Policy
    store: Store

    @post("/customers/lookup", responses=LOOKUP_PROBLEMS, status_code=200,
          summary="Find a customer by loyalty card, phone or email (keyed hash, never clear)")
    async def lookup(self, data: JSONBody[lo.CustomerLookup]) -> lo.CustomerView:
        conn = self.store.reader
        return self.loyalty.view(conn, self.loyalty.find(conn, data))

    @get("/customers/{customer_id:str}", responses=LOOKUP_PROBLEMS,
         summary="Customer 360: name, tier, points, last purchases here, consents")
    async def get_customer(self, customer_id: CustomerId) -> lo.CustomerView:
        return self.loyalty.view(self.store.reader, customer_id)

    @post("/carts/{cart_id:str}/customer", responses=WRITE_PROBLEMS, status_code=200,
          summary="Attach a customer to the cart: the sale earns points, a points tender "
                  "burns, promotions for the customer's tier apply")
    async def attach(self, mutation: Injected[Mutation], cart_id: CartId,
                     data: JSONBody[lo.AttachCustomer]) -> Response[lo.CartCustomerView]:
        def effect(tx):
            self.loyalty.attach(tx, mutation.who, cart_id, data.customer_id, self.policy)
            return answer(200, lo.CartCustomerView(cart_id=cart_id,
                                                   customer_id=data.customer_id))
        return respond(await self.store.gate.run(mutation, data, effect))

    @delete("/carts/{cart_id:str}/customer", responses=WRITE_PROBLEMS, status_code=200,
            summary="Remove the customer from the cart: it earns nothing, promotions for the "
                    "customer's tier stop applying (409 while the customer's points pay)")
    async def detach(self, mutation: Injected[Mutation],
                     cart_id: CartId) -> Response[lo.CartCustomerView]:
        def effect(tx):
            self.loyalty.detach(tx, mutation.who, cart_id, self.policy)
            return answer(200, lo.CartCustomerView(cart_id=cart_id, customer_id=None))
        return respond(await self.store.gate.run(mutation, None, effect))
