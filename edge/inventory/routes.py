"""Stock routes: a lane's stock look-up, low stock, receiving, adjustments, blind counts,
announced deliveries and transfers. Thin: decode, run the command through the gate, answer."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import JSONBody, Parameter, PathParameter, QueryParameter

from edge.api.deps import Injected, respond
from edge.api.problems import READ_PROBLEMS, WRITE_PROBLEMS
from edge.approvals.header import ApprovalToken, with_token
from edge.approvals.service import ApprovalService
from edge.catalog import lookup
from edge.inventory import commands, levels
from edge.inventory.errors import UnknownSku
from edge.inventory.settings import InventoryConfig
from edge.store.idempotency import Mutation, answer
from edge.store.kernel import Store
from edge.store.writer import Tx
from schemas import inventory_api as api

Id = Annotated[str, PathParameter(min_length=1, max_length=64)]


def stock_of(conn, sku: str) -> api.StockView:
    found = levels.level(conn, sku)
    if found is not None:
        return found
    if lookup.by_sku(conn, sku) is None:
        raise UnknownSku(f"no stock and no catalog item with SKU {sku}")
    return levels.zero(sku)


class StockController(Controller):
    path = "/v1/stock"
    tags = ["stock"]
    store: Store
    inventory: InventoryConfig
    approvals: ApprovalService

    @get("", responses=READ_PROBLEMS, summary="On-hand, reserved and available of one SKU")
    async def show(self, sku: str = Parameter(min_length=1, max_length=64)) -> api.StockView:
        return stock_of(self.store.reader, sku)

    @get("/low", responses=READ_PROBLEMS,
         summary="SKUs whose available is at or below [inventory] low_stock_milli, or at_most")
    async def low(
        self, at_most_milli: int | None = Parameter(default=None, ge=-(10**12), le=10**12),
        limit: int = Parameter(default=100, ge=1, le=1000),
    ) -> api.StockList:
        bound = self.inventory.low_stock_milli if at_most_milli is None else at_most_milli
        return api.StockList(items=levels.low(self.store.reader, bound, limit))

    @post("/receipts", status_code=201, responses=WRITE_PROBLEMS,
          summary="Record goods received, against an announced delivery or unannounced")
    async def receive(self, mutation: Injected[Mutation],
                      data: JSONBody[api.ReceiveStock]) -> Response[api.GoodsReceiptView]:
        def effect(tx: Tx):
            receipt_id = commands.receive(tx, mutation.who.lane_id, data)
            return answer(201, commands.receipt_view(tx.conn, receipt_id))

        return respond(await self.store.gate.run(mutation, data, effect))

    @post("/adjustments", status_code=201, responses=WRITE_PROBLEMS,
          summary="Adjust on-hand with a reason (a manager's approval above [inventory] "
          "manager_above_milli)")
    async def adjust(self, mutation: Injected[Mutation], data: JSONBody[api.AdjustStock],
                     approval_token: ApprovalToken = None) -> Response[api.AdjustmentView]:
        m = with_token(mutation, approval_token)

        def effect(tx: Tx):
            adjustment_id = commands.adjust(tx, m.who, self.inventory, data,
                                            self.approvals.policy, m.approval_token)
            return answer(201, commands.adjustment_view(tx.conn, adjustment_id,
                                                        stock_of(tx.conn, data.sku)))

        return respond(await self.approvals.asking(self.store.gate.run(m, data, effect)))

    @post("/counts", status_code=201, responses=WRITE_PROBLEMS,
          summary="Record a blind cycle count of a section (a manager's approval when a "
          "variance is above [inventory] manager_above_milli)")
    async def count(self, mutation: Injected[Mutation], data: JSONBody[api.CountStock],
                    approval_token: ApprovalToken = None) -> Response[api.CountView]:
        m = with_token(mutation, approval_token)

        def effect(tx: Tx):
            count_id = commands.count(tx, m.who, self.inventory, data, self.approvals.policy,
                                      m.approval_token)
            return answer(201, commands.count_view(tx.conn, count_id))

        return respond(await self.approvals.asking(self.store.gate.run(m, data, effect)))

    @get("/deliveries", responses=READ_PROBLEMS, summary="Deliveries HQ announced")
    async def deliveries(
        self, delivery_state: Annotated[str | None, QueryParameter(
            name="state", pattern="^(expected|received)$")] = None,
    ) -> list[api.DeliveryView]:
        return commands.deliveries(self.store.reader, delivery_state)

    @get("/transfers/{transfer_id:str}", responses=READ_PROBLEMS, summary="A transfer")
    async def transfer(self, transfer_id: Id) -> api.TransferView:
        return commands.transfer_view(self.store.reader, transfer_id)

    @post("/transfers/{transfer_id:str}/ship", status_code=201, responses=WRITE_PROBLEMS,
          summary="Ship a transfer HQ requested (stock leaves this store)")
    async def ship(self, mutation: Injected[Mutation], transfer_id: Id,
                   data: JSONBody[api.ShipTransfer]) -> Response[api.TransferView]:
        def effect(tx: Tx):
            commands.ship(tx, mutation.who.lane_id, transfer_id, data)
            return answer(201, commands.transfer_view(tx.conn, transfer_id))

        return respond(await self.store.gate.run(mutation, data, effect))
