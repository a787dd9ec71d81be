"""Checklist routes: today's checklists with who ticked what, and ticking an item."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import JSONBody, PathParameter

from core.business_day import business_date
from edge.api.deps import Injected, respond
from edge.api.problems import READ_PROBLEMS, WRITE_PROBLEMS
from edge.checklists import commands
from edge.store.idempotency import Mutation, answer
from edge.store.kernel import Store
from edge.store.writer import Tx
from schemas import checklists as ck

ChecklistId = Annotated[str, PathParameter(min_length=1, max_length=64)]
ItemId = Annotated[str, PathParameter(min_length=1, max_length=64)]


class ChecklistController(Controller):
    path = "/v1/checklists"
    tags = ["checklists"]
    store: Store

    def _today(self, now_ms: int) -> str:
        i = self.store.identity
        return business_date(now_ms, i.tz, i.day_close_hour)

    @get("/", responses=READ_PROBLEMS,
         summary="Today's open and close checklists, who ticked what, what is overdue")
    async def list_checklists(self) -> list[ck.ChecklistView]:
        now = self.store.clock.now_ms()
        return commands.views(self.store.reader, self._today(now), now, self.store.identity.tz)

    @post("/{checklist_id:str}/items/{item_id:str}/tick", responses=WRITE_PROBLEMS,
          status_code=201, summary="Tick a checklist item (recorded with who and when)")
    async def tick(self, mutation: Injected[Mutation], checklist_id: ChecklistId,
                   item_id: ItemId, data: JSONBody[ck.TickItem]) -> Response[list[ck.ChecklistView]]:
        def effect(tx: Tx):
            commands.tick(tx, checklist_id, item_id, mutation.who.token_id,
                          mutation.who.lane_id, data.note)
            return answer(201, commands.views(tx.conn, tx.business_date, tx.now_ms,
                                              tx.identity.tz))
        return respond(await self.store.gate.run(mutation, data, effect))
