"""Till routes: open, move cash, confirm, no-sale, blind close; the session view and the X and
Z reports (manager). Thin: decode, run the command through the idempotency gate, answer."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import JSONBody, PathParameter

from core.errors import Forbidden
from edge.api.deps import Injected, respond
from edge.api.problems import READ_PROBLEMS, WRITE_PROBLEMS, documented
from edge.approvals.header import ApprovalToken, with_token
from edge.approvals.service import ApprovalService
from edge.carts.model import Policy
from edge.lanes import Principal
from edge.printing.service import PrintService
from edge.store.idempotency import Mutation, answer
from edge.store.kernel import Store
from edge.store.writer import Tx
from edge.tills import commands, views
from edge.tills.settings import CashConfig
from edge.reports.zreport import z_report_for_day
from schemas import cash as c
from schemas.zreport import ZReport

TillId = Annotated[str, PathParameter(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
MovementId = Annotated[str, PathParameter(min_length=1, max_length=64)]
ZNumber = Annotated[int, PathParameter(ge=1, le=1_000_000_000)]


class TillController(Controller):
    path = "/v1/tills"
    tags = ["tills"]
    store: Store
    policy: Policy
    cash: CashConfig
    printing: PrintService
    approvals: ApprovalService

    def _view(self, tx: Tx, till_id: str, status: int = 200):
        return answer(status, views.till_view(tx.conn, till_id, self.cash.safe_drop_above_minor))

    @post("/end-of-day", responses=WRITE_PROBLEMS, status_code=201,
          summary="The store's end of day: close every open till (blind counts); answers the "
                  "day's store Z report, the aggregate of the tills' (manager)")
    async def end_of_day(self, mutation: Injected[Mutation], data: JSONBody[c.EndOfDay],
                         approval_token: ApprovalToken = None) -> Response[ZReport]:
        m = with_token(mutation, approval_token)

        def effect(tx: Tx):
            commands.end_of_day(tx, m.who, self.cash, data, self.approvals.policy,
                                m.approval_token)
            return answer(201, z_report_for_day(tx.conn, tx.store_id, tx.business_date))
        return respond(await self.approvals.asking(self.store.gate.run(m, data, effect)))

    @post("/{till_id:str}/open", responses=WRITE_PROBLEMS, status_code=201,
          summary="Open a till at the calling lane with a float counted by denomination")
    async def open_till(self, mutation: Injected[Mutation], till_id: TillId,
                        data: JSONBody[c.OpenTill]) -> Response[c.TillView]:
        def effect(tx: Tx):
            commands.open_till(tx, mutation.who, self.cash, self.policy.currency, till_id, data)
            return self._view(tx, till_id, 201)
        return respond(await self.store.gate.run(mutation, data, effect))

    @get("/{till_id:str}", responses=READ_PROBLEMS,
         summary="The till's current (or last) session; blind: no expected cash while open")
    async def get_till(self, till_id: TillId) -> c.TillView:
        return views.till_view(self.store.reader, till_id, self.cash.safe_drop_above_minor)

    @post("/{till_id:str}/movements", responses=WRITE_PROBLEMS, status_code=201,
          summary="A drop to the safe, a pickup, a pay-in or a pay-out (with a reason)")
    async def move(self, mutation: Injected[Mutation], till_id: TillId,
                   data: JSONBody[c.MoveCash],
                   approval_token: ApprovalToken = None) -> Response[c.TillView]:
        m = with_token(mutation, approval_token)

        def effect(tx: Tx):
            commands.move_cash(tx, m.who, self.cash, till_id, data, self.approvals.policy,
                               m.approval_token)
            return self._view(tx, till_id, 201)
        return respond(await self.approvals.asking(self.store.gate.run(m, data, effect)))

    @post("/{till_id:str}/movements/{movement_id:str}/confirm", responses=WRITE_PROBLEMS,
          status_code=200, summary="A second person confirms a drop or a pickup")
    async def confirm(self, mutation: Injected[Mutation], till_id: TillId,
                      movement_id: MovementId) -> Response[c.TillView]:
        def effect(tx: Tx):
            commands.confirm(tx, mutation.who, till_id, movement_id)
            return self._view(tx, till_id)
        return respond(await self.store.gate.run(mutation, {"movement_id": movement_id}, effect))

    @post("/{till_id:str}/no-sale", responses=WRITE_PROBLEMS, status_code=201,
          summary="Open the drawer without a sale (recorded; a manager by default)")
    async def no_sale(self, mutation: Injected[Mutation], till_id: TillId,
                      data: JSONBody[c.NoSale],
                      approval_token: ApprovalToken = None) -> Response[c.TillView]:
        m = with_token(mutation, approval_token)
        lanes: list[str] = []

        def effect(tx: Tx):
            lanes.append(commands.no_sale(tx, m.who, self.cash, till_id, data,
                                          self.approvals.policy, m.approval_token))
            return self._view(tx, till_id, 201)
        outcome = await self.approvals.asking(self.store.gate.run(m, data, effect))
        for lane in lanes:  # a fresh no-sale (not a replay) opens the drawer, after the commit
            self.printing.kick_for_lane(lane)
        return respond(outcome)

    @post("/{till_id:str}/close", responses=WRITE_PROBLEMS, status_code=201,
          summary="Close the till with a blind count by denomination; answers its Z report")
    async def close(self, mutation: Injected[Mutation], till_id: TillId,
                    data: JSONBody[c.CloseTill],
                    approval_token: ApprovalToken = None) -> Response[c.TillReport]:
        m = with_token(mutation, approval_token)

        def effect(tx: Tx):
            commands.close_till(tx, m.who, self.cash, till_id, data, self.approvals.policy,
                                m.approval_token)
            z = tx.conn.execute("SELECT last_z FROM till_z_numbers WHERE till_id = ?",
                                (till_id,)).fetchall()[0][0]
            return answer(201, views.z_report(tx.conn, till_id, z))
        return respond(await self.approvals.asking(self.store.gate.run(m, data, effect)))

    @get("/{till_id:str}/x", responses=documented(400, 401, 403, 404, 409, 429),
         summary="X report of the open session, from the log (manager)")
    async def x_report(self, who: Injected[Principal], till_id: TillId) -> c.TillReport:
        _manager(who, "the X report")
        return views.x_report(self.store.reader, till_id)

    @get("/{till_id:str}/z/{z_number:int}", responses=READ_PROBLEMS,
         summary="Z report of a till's closing by its Z number (manager)")
    async def z_report(self, who: Injected[Principal], till_id: TillId,
                       z_number: ZNumber) -> c.TillReport:
        _manager(who, "a Z report")
        return views.z_report(self.store.reader, till_id, z_number)


def _manager(who: Principal, what: str) -> None:
    if not who.is_manager:
        raise Forbidden(f"{what} needs a manager token")
