"""Approval routes. Lanes: see one approval (the lane that asked gets its token), enter a
manager's PIN. Managers (a manager lane token): the pending list, the live stream (SSE), a
remote decision signed on an enrolled device, the audit trail. Admin (loopback, admin token):
approvers and their devices."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.params import JSONBody, Parameter, PathParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from core.errors import Forbidden
from edge.api.deps import Injected, respond
from edge.api.problems import READ_PROBLEMS, WRITE_PROBLEMS, documented
from edge.approvals import commands, views
from edge.approvals.service import ApprovalService
from edge.lanes import Principal
from edge.store.idempotency import Mutation, answer
from edge.store.kernel import Store
from schemas import approvals as ap

ApprovalId = Annotated[str, PathParameter(min_length=1, max_length=64)]
Name = Annotated[str, PathParameter(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
StateQuery = Annotated[
    Literal["pending", "approved", "denied", "used", "expired"] | None,
    QueryParameter(name="state", required=False)]
ActorQuery = Annotated[str | None, QueryParameter(
    name="actor", min_length=1, max_length=64, required=False,
    description="an approver id or a lane id")]
KEEPALIVE_S = 15.0
_encoder = msgspec.json.Encoder()


def _manager(who: Principal, what: str) -> None:
    if not who.is_manager:
        raise Forbidden(f"{what} needs a manager token")


class ApprovalController(Controller):
    path = "/v1"
    tags = ["approvals"]
    approvals: ApprovalService
    store: Store

    @get("/approvals", responses=READ_PROBLEMS, summary="Approvals (managers): pending first")
    async def listing(
        self, who: Injected[Principal], approval_state: StateQuery = None,
    ) -> ap.ApprovalList:
        _manager(who, "listing approvals")
        return views.listing(self.store.reader, approval_state, self.store.identity,
                             self.store.clock.now_ms())

    @get("/approvals/stream", responses=READ_PROBLEMS,
         summary="Live stream (SSE) of approval requests and decisions (managers)")
    async def stream(self, who: Injected[Principal]) -> ServerSentEvent:
        _manager(who, "the approvals stream")
        return ServerSentEvent(self._events(), headers={"Cache-Control": "no-store",
                                                        "X-Accel-Buffering": "no"})

    async def _events(self) -> AsyncIterator[ServerSentEventMessage]:
        store = self.store
        async with self.approvals.subscription() as queue:
            # What is pending now, then every approval event as it commits.
            for v in views.listing(store.reader, "pending", store.identity,
                                   store.clock.now_ms()).approvals:
                yield ServerSentEventMessage(event="approval.pending",
                                             data=_encoder.encode(v).decode())
            while True:
                try:
                    stored = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
                except TimeoutError:
                    yield ServerSentEventMessage(comment="keep-alive")
                    continue
                if stored is None:
                    yield ServerSentEventMessage(event="end", data="shutdown")
                    return
                approval_id = msgspec.json.decode(stored.body).get("approval_id")
                if approval_id is None:
                    data = stored.body.decode()
                else:
                    data = _encoder.encode(views.one(store.reader, approval_id, store.identity,
                                                     store.clock.now_ms(), None)).decode()
                yield ServerSentEventMessage(event=stored.type, data=data, id=stored.seq)

    @get("/approvals/{approval_id:str}", responses=READ_PROBLEMS,
         summary="One approval; the lane that asked gets its token once approved")
    async def one(self, who: Injected[Principal], approval_id: ApprovalId) -> ap.ApprovalView:
        v = views.one(self.store.reader, approval_id, self.store.identity,
                      self.store.clock.now_ms(), who)
        if v.lane_id != who.lane_id:
            _manager(who, "another lane's approval")
        return v

    @post("/approvals/{approval_id:str}/pin", responses=WRITE_PROBLEMS, status_code=200,
          summary="Approve at the lane with a manager's PIN: answers the approval token")
    async def pin(self, mutation: Injected[Mutation], approval_id: ApprovalId,
                  data: JSONBody[ap.ApproveByPin]) -> Response[ap.ApprovalView]:
        return respond(await self.approvals.approve_by_pin(mutation, approval_id, data))

    @post("/approvals/{approval_id:str}/decision", responses=WRITE_PROBLEMS, status_code=200,
          summary="Approve or deny from a manager's device (Ed25519-signed statement)")
    async def decision(self, mutation: Injected[Mutation], approval_id: ApprovalId,
                       data: JSONBody[ap.RemoteDecision]) -> Response[ap.ApprovalView]:
        _manager(mutation.who, "a remote decision")
        return respond(await self.approvals.decide(mutation, approval_id, data))

    @get("/audit", responses=documented(400, 401, 403, 404, 422, 429),
         summary="The approvals audit trail (managers): approvals, denials, overrides, PINs")
    async def audit(
        self, who: Injected[Principal],
        from_ms: int = Parameter(query="from", default=0, ge=0, le=2**53,
                                 description="epoch ms, inclusive"),
        to_ms: int = Parameter(query="to", default=2**53, ge=0, le=2**53,
                               description="epoch ms, exclusive (default: no end)"),
        actor: ActorQuery = None,
    ) -> ap.AuditList:
        _manager(who, "the audit trail")
        return views.audit(self.store.reader, from_ms, to_ms, actor)


class ApproverAdminController(Controller):
    path = "/v1/admin/approvers"
    tags = ["admin"]
    approvals: ApprovalService
    store: Store
    security = [{"AdminToken": []}]
    include_in_schema = False  # the local tooling API (docs/approvals.md)

    @get("/", responses=READ_PROBLEMS, summary="Approvers, their lockout and devices")
    async def listing(self) -> ap.ApproverList:
        return views.approvers(self.store.reader)

    @post("/", responses=WRITE_PROBLEMS, status_code=200,
          summary="Enroll an approver, or set a new PIN (lifts a lockout)")
    async def enroll(self, data: JSONBody[ap.EnrollApprover]) -> ap.ApproverList:
        await self.approvals.enroll_approver(data)
        return views.approvers(self.store.reader)

    @post("/{approver_id:str}/devices", responses=WRITE_PROBLEMS, status_code=201,
          summary="Enroll a manager device's Ed25519 public key")
    async def enroll_device(self, mutation: Injected[Mutation], approver_id: Name,
                            data: JSONBody[ap.EnrollDevice]) -> Response[ap.ApproverList]:
        def effect(tx):
            commands.enroll_device(tx.conn, approver_id, data, tx.now_ms)
            return answer(201, views.approvers(tx.conn))

        return respond(await self.store.gate.run(mutation, data, effect))

    @delete("/{approver_id:str}/devices/{device_id:str}", responses=WRITE_PROBLEMS,
            status_code=200, summary="Revoke a device's key: its approvals stop working")
    async def revoke_device(self, mutation: Injected[Mutation], approver_id: Name,
                            device_id: Name) -> Response[ap.ApproverList]:
        def effect(tx):
            commands.revoke_device(tx.conn, device_id, tx.now_ms)
            return answer(200, views.approvers(tx.conn))

        return respond(await self.store.gate.run(mutation, None, effect))
