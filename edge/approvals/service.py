"""The approvals service the routes and other domains' routes hold: it records the pending
approval a refused request asked for, runs PIN and device decisions (PIN hashes are checked
off the writer: scrypt takes tens of milliseconds the other lanes must not wait for), and
streams approval events to managers' devices (SSE).

`asking(run)` wraps the gate call of any route whose command calls `commands.require`:
the refused command rolled back whole, so the `approval.requested` event is appended in a
writer command of its own, then the 403 is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import structlog

from core.errors import DomainError
from core.idempotency import Answer, Outcome
from edge.approvals import commands, pins, views
from edge.approvals.errors import ApprovalRequired
from edge.approvals.rules import ApprovalPolicy
from edge.store.idempotency import Mutation, answer
from edge.store.kernel import Store
from edge.store.writer import Tx
from schemas import approvals as ap
from schemas.envelope import Event

log = structlog.get_logger("novapos.approvals")
T = TypeVar("T")
MAX_SUBSCRIBERS = 64
SUBSCRIBER_QUEUE = 256


class ApprovalService:
    def __init__(self, store: Store, policy: ApprovalPolicy) -> None:
        self.store = store
        self.policy = policy
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        store.on_commit(self._committed)

    # --- the entry point for routes of other domains -------------------------------------

    async def asking(self, run: Awaitable[T]) -> T:
        try:
            return await run
        except ApprovalRequired as need:
            await self.store.writer.run(lambda tx: commands.record_request(tx, need))
            raise

    # --- deciding ------------------------------------------------------------------------

    async def _recording(self, m: Mutation, payload: Any,
                         effect: Callable[[Tx], Answer | DomainError]) -> Outcome:
        """Run `effect` through the gate; a refusal it returns (after recording it, e.g. a
        wrong PIN) commits, is not stored under the key, and is raised."""
        refused: list[DomainError] = []

        def wrapped(tx: Tx) -> Answer:
            out = effect(tx)
            if isinstance(out, DomainError):
                refused.append(out)
                return Answer(out.status, b"")
            return out

        outcome = await self.store.gate.run(m, payload, wrapped)
        if refused:
            raise refused[0]
        return outcome

    async def approve_by_pin(self, m: Mutation, approval_id: str,
                             req: ap.ApproveByPin) -> Outcome:
        conn = self.store.reader
        known = commands.pin_hash(conn, req.approver_id)
        pin_ok = False
        if known is not None and commands.locked_out(known[1], self.store.clock.now_ms()) is None:
            pin_ok = await asyncio.to_thread(pins.check_pin, req.pin, known[0])

        def effect(tx: Tx) -> Answer | DomainError:
            out = commands.decide_by_pin(tx, m.who, self.policy, approval_id, req, pin_ok)
            if isinstance(out, DomainError):
                return out
            return answer(200, views.one(tx.conn, approval_id, tx.identity, tx.now_ms, m.who))

        # The PIN is left out of what the gate fingerprints (and keeps): a fast hash of a
        # few digits would give the PIN away.
        return await self._recording(m, {"approver_id": req.approver_id, "reason": req.reason},
                                     effect)

    async def decide(self, m: Mutation, approval_id: str, req: ap.RemoteDecision) -> Outcome:
        def effect(tx: Tx) -> Answer:
            commands.decide_remotely(tx, m.who, self.policy, approval_id, req)
            return answer(200, views.one(tx.conn, approval_id, tx.identity, tx.now_ms, m.who))

        return await self.store.gate.run(m, req, effect)

    # --- approvers -----------------------------------------------------------------------

    async def enroll_approver(self, req: ap.EnrollApprover) -> None:
        hashed = await asyncio.to_thread(pins.hash_pin, req.pin)
        await self.store.writer.run(lambda tx: commands.enroll_approver(
            tx.conn, req.approver_id, req.name, hashed, tx.now_ms))

    # --- the stream ----------------------------------------------------------------------

    def _committed(self, appended: list[Event]) -> None:
        mine = [e for e in appended if e.type.startswith("approval.")]
        if not mine or not self._subscribers:
            return
        for loop, queue in list(self._subscribers):
            for stored in mine:
                with contextlib.suppress(RuntimeError):  # its loop closed: it is going away
                    loop.call_soon_threadsafe(_offer, queue, stored)

    def close_streams(self) -> None:
        """End every open stream (at shutdown: graceful shutdown would wait on them)."""
        for loop, queue in list(self._subscribers):
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_offer, queue, None)

    @contextlib.asynccontextmanager
    async def subscription(self) -> AsyncIterator[asyncio.Queue]:
        if len(self._subscribers) >= MAX_SUBSCRIBERS:
            raise _TooMany()
        entry = (asyncio.get_running_loop(), asyncio.Queue(SUBSCRIBER_QUEUE))
        self._subscribers.add(entry)
        try:
            yield entry[1]
        finally:
            self._subscribers.discard(entry)


class _TooMany(DomainError):
    status, slug, title = 503, "approval-stream-full", "Too many approval streams are open"
    retry_after_s = 5


def _offer(queue: asyncio.Queue, stored: Event | None) -> None:
    try:
        queue.put_nowait(stored)
    except asyncio.QueueFull:  # a stalled reader loses live events, never blocks the writer
        if stored is None:  # the end must get through: make room for it
            queue.get_nowait()
            queue.put_nowait(None)
            return
        log.warning("approval stream subscriber is behind; event dropped", seq=stored.seq)
