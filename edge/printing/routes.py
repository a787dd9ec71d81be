"""Receipt reprint: queue another copy of an order's receipt on a printer (never prints inline;
the print worker does, and the answer says the job is queued)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, post
from litestar.params import JSONBody, PathParameter

from edge.api.deps import Injected, respond
from edge.api.problems import WRITE_PROBLEMS
from edge.printing.service import PrintService
from edge.store.idempotency import Mutation, answer
from edge.store.kernel import Store
from schemas.printing import ReceiptPrint, ReprintReceipt

OrderId = Annotated[str, PathParameter(min_length=1, max_length=64)]


class ReprintController(Controller):
    path = "/v1/orders"
    tags = ["orders"]
    printing: PrintService
    store: Store

    @post(
        "/{order_id:str}/receipt/print",
        responses=WRITE_PROBLEMS,
        status_code=202,
        summary="Queue a reprint of the order's receipt",
    )
    async def reprint_receipt(
        self, mutation: Injected[Mutation], order_id: OrderId, data: JSONBody[ReprintReceipt]
    ) -> Response[ReceiptPrint]:
        lane_id = mutation.who.lane_id
        outcome = await self.store.gate.run(
            mutation,
            data,
            lambda tx: answer(202, self.printing.reprint(tx, order_id, lane_id, data.printer_id)),
        )
        self.printing.wake()
        return respond(outcome)
