"""Receipt reprint: queue another copy of an order's receipt on a printer (never prints inline;
the print worker does, and the answer says the job is queued)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, post
from litestar.params import HeaderParameter, JSONBody, PathParameter

from edge.api.problems import WRITE_PROBLEMS
from edge.lanes import Principal
from edge.store.writer import Tx
from schemas.printing import ReceiptPrint, ReprintReceipt

OrderId = Annotated[str, PathParameter(min_length=1, max_length=64)]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(name="Idempotency-Key", required=False,
                    description="Required: a repeated key replays the first answer (one copy)."),
]


@post("/v1/orders/{order_id:str}/receipt/print", responses=WRITE_PROBLEMS, status_code=202,
      tags=["orders"], summary="Queue a reprint of the order's receipt")
async def reprint_receipt(
    request: Request[Principal, Any, Any],
    idempotency_key: IdempotencyKey,
    order_id: OrderId,
    data: JSONBody[ReprintReceipt],
) -> Response[ReceiptPrint]:
    svc, who = request.app.state.service, request.user

    def effect(tx: Tx) -> tuple[int, Any]:
        return 202, svc.printing.reprint(tx, order_id, who.lane_id, data.printer_id)

    response = await request.app.state.gate.run(request, who, data, effect)
    svc.printing.wake()
    return response
