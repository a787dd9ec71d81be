"""Pickup-order routes for the store's staff and lanes: the list by state, one order (its
pick list: lines with what is picked), accept (when the store does not decide on its own),
scan a pick, pack, ready, hand over at a lane with the customer's code, cancel."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from edge.api.deps import Injected, respond
from edge.api.problems import READ_PROBLEMS, WRITE_PROBLEMS
from edge.pickup import commands
from edge.pickup.settings import PickupConfig
from edge.store.idempotency import Mutation, answer
from edge.store.kernel import Store
from edge.store.writer import Tx
from schemas import inventory_api as api

OrderId = Annotated[str, PathParameter(min_length=1, max_length=64)]
STATES = "^(received|accepted|rejected|picking|packed|ready|handed_over|cancelled)$"


class PickupController(Controller):
    path = "/v1/pickup-orders"
    tags = ["pickup"]
    store: Store
    pickup: PickupConfig

    def _view(self, conn, order_id: str) -> api.PickupOrderView:
        return commands.view(conn, order_id, self.store.clock.now_ms(), self.pickup)

    async def _run(self, mutation: Mutation, payload, order_id: str, command) -> Response:
        def effect(tx: Tx):
            command(tx)
            return answer(200, self._view(tx.conn, order_id))

        return respond(await self.store.gate.run(mutation, payload, effect))

    @get("", responses=READ_PROBLEMS, summary="Pickup orders, optionally in one state")
    async def list_orders(
        self, order_state: Annotated[str | None, QueryParameter(name="state",
                                                                pattern=STATES)] = None,
    ) -> api.PickupOrderList:
        return api.PickupOrderList(orders=commands.listing(
            self.store.reader, order_state, self.store.clock.now_ms(), self.pickup))

    @get("/{order_id:str}", responses=READ_PROBLEMS,
         summary="A pickup order: its pick list, picks, flags and SLA alarms")
    async def get_order(self, order_id: OrderId) -> api.PickupOrderView:
        return self._view(self.store.reader, order_id)

    @post("/{order_id:str}/accept", status_code=200, responses=WRITE_PROBLEMS,
          summary="Decide a received order now: accepted (every line reserved) or rejected")
    async def accept(self, mutation: Injected[Mutation], order_id: OrderId) -> Response:
        return await self._run(mutation, {}, order_id, lambda tx: commands.decide(
            tx, order_id, self.pickup, mutation.who.lane_id))

    @post("/{order_id:str}/picks", status_code=200, responses=WRITE_PROBLEMS,
          summary="Scan an item into the pick (a wrong item is refused; a substitution names "
          "the ordered SKU it replaces and is flagged)")
    async def pick(self, mutation: Injected[Mutation], order_id: OrderId,
                   data: JSONBody[api.PickScan]) -> Response[api.PickupOrderView]:
        return await self._run(mutation, data, order_id, lambda tx: commands.pick(
            tx, mutation.who.lane_id, order_id, data))

    @post("/{order_id:str}/pack", status_code=200, responses=WRITE_PROBLEMS,
          summary="Packed: every line picked")
    async def pack(self, mutation: Injected[Mutation], order_id: OrderId) -> Response:
        return await self._run(mutation, {}, order_id, lambda tx: commands.pack(
            tx, mutation.who.lane_id, order_id))

    @post("/{order_id:str}/ready", status_code=200, responses=WRITE_PROBLEMS,
          summary="Ready for pickup (HQ tells the customer from this event)")
    async def ready(self, mutation: Injected[Mutation], order_id: OrderId) -> Response:
        return await self._run(mutation, {}, order_id, lambda tx: commands.ready(
            tx, mutation.who.lane_id, order_id))

    @post("/{order_id:str}/handover", status_code=200, responses=WRITE_PROBLEMS,
          summary="Hand over at a lane with the pickup code (prepaid, or after the lane's "
          "sale of it)")
    async def handover(self, mutation: Injected[Mutation], order_id: OrderId,
                       data: JSONBody[api.Handover]) -> Response[api.PickupOrderView]:
        return await self._run(mutation, data, order_id, lambda tx: commands.handover(
            tx, mutation.who.lane_id, order_id, data))

    @post("/{order_id:str}/cancel", status_code=200, responses=WRITE_PROBLEMS,
          summary="Cancel at the store: the reservation is released")
    async def cancel(self, mutation: Injected[Mutation], order_id: OrderId) -> Response:
        return await self._run(mutation, {}, order_id, lambda tx: commands.cancel(
            tx, mutation.who.lane_id, order_id, "store"))
