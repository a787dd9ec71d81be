"""The store's side of `core.idempotency`: keys scoped by lane, their stored responses in the
`idempotency_keys` table, written in the writer's savepoint of the effect they answer for, so
after any crash either both exist or neither does. Rows are pruned after the retention.

`Gate` is what routes and scan-to-cart hand their effects to. It knows a request only as a
typed `Mutation` (scope, key, method, path): no HTTP type reaches it or the domains.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import apsw
import msgspec

from core import idempotency as once
from core.idempotency import (
    Answer,
    Done,
    Fresh,
    InFlight,
    Outcome,
    Pending,
    Refusal,
    Replayed,
    StoredResponse,
)
from edge.lanes import Principal
from edge.store.writer import Tx, Writer

I = TypeVar("I")
P = TypeVar("P")
_encoder = msgspec.json.Encoder()


class SqliteKeys:
    """`core.idempotency.KeyStore` over the store database, inside one transaction."""

    __slots__ = ("_conn", "_now_ms")

    def __init__(self, conn: apsw.Connection, now_ms: int) -> None:
        self._conn, self._now_ms = conn, now_ms

    def lookup(self, scope: str, key: str) -> StoredResponse | None:
        rows = self._conn.execute(
            "SELECT fingerprint, status, body FROM idempotency_keys WHERE lane_id = ? AND key = ?",
            (scope, key)).fetchall()
        return StoredResponse(*rows[0]) if rows else None

    def save(self, scope: str, key: str, response: StoredResponse) -> None:
        self._conn.execute(
            "INSERT INTO idempotency_keys(lane_id, key, fingerprint, status, body, created_at_ms) "
            "VALUES (?,?,?,?,?,?)",
            (scope, key, response.fingerprint, response.status, response.body, self._now_ms))


def keys(tx: Tx) -> SqliteKeys:
    return SqliteKeys(tx.conn, tx.now_ms)


def prune(conn: apsw.Connection, older_than_ms: int) -> int:
    conn.execute("DELETE FROM idempotency_keys WHERE created_at_ms < ?", (older_than_ms,))
    return conn.changes()


def answer(status: int, view: Any) -> Answer:
    """An effect's answer: the view encoded once, as it is stored and sent."""
    return Answer(status, _encoder.encode(view))


@dataclass(frozen=True, slots=True)
class Mutation:
    """One mutating request as the gate sees it: who asks (the lane's principal, whose lane is
    the key's scope), its validated key, and what makes two requests the same (method, path,
    body)."""

    who: Principal
    key: str
    method: str
    path: str
    # A manager's approval for this request (X-Approval-Token, edge.approvals): not part of
    # what makes two requests the same, so the lane retries under the same key with it.
    approval_token: str | None = None

    @property
    def scope(self) -> str:
        return self.who.lane_id

    def fingerprint(self, payload: Any) -> bytes:
        return once.fingerprint(self.method, self.path, payload)

    @property
    def request_key(self) -> str:
        """The key as domains record it (a payment remembers the request that created it)."""
        return f"{self.scope}:{self.key}"


@dataclass(frozen=True, slots=True)
class Finish(Generic[I]):
    """Handed to a two-phase `finish`: the intent, and `record(tx, answer)` to store the
    answer inside finish's own result commit (one fsync fewer than storing it after)."""

    intent: I
    record: Callable[[Tx, Answer], None]


class Gate:
    def __init__(self, writer: Writer, reader: Callable[[], apsw.Connection],
                 on_replay: Callable[[], None] = lambda: None) -> None:
        self._writer = writer
        self._reader = reader
        self._on_replay = on_replay
        self._in_flight = InFlight()

    def _seen(self, outcome: Outcome) -> Outcome:
        if isinstance(outcome, Replayed):
            self._on_replay()
        return outcome

    async def run(self, m: Mutation, payload: Any, effect: Callable[[Tx], Answer]) -> Outcome:
        """The effect at most once per (lane, key), in one writer command with its answer."""
        fp = m.fingerprint(payload)
        with self._in_flight.hold(m.scope, m.key):
            return self._seen(await self._writer.run(
                lambda tx: once.once(keys(tx), m.scope, m.key, fp, lambda: effect(tx))))

    @staticmethod
    def run_in(tx: Tx, m: Mutation, payload: Any, effect: Callable[[Tx], Answer]) -> Outcome:
        """The same, inside a writer command that is already running (scan-to-cart: the scan
        and its cart line commit together)."""
        return once.once(keys(tx), m.scope, m.key, m.fingerprint(payload), lambda: effect(tx))

    async def run_phased(
        self, m: Mutation, payload: Any,
        begin: Callable[[Tx, P], Done | Pending[I]],
        finish: Callable[[Finish[I]], Awaitable[Answer | Refusal]],
        prepare: Callable[[], Awaitable[P]] | None = None,
    ) -> Outcome:
        """A two-phase effect (`core.idempotency.begin`/`record`). `prepare` runs first,
        outside the writer, once the key is held and only for a request not answered before
        (e.g. a status enquiry at the terminal); its result goes to `begin`. `finish` is
        shielded: a client that hangs up does not stop a payment half-way. A `Refusal` from
        finish is raised after its commit; a stored answer is never a refusal."""
        fp = m.fingerprint(payload)
        with self._in_flight.hold(m.scope, m.key):
            prepared: Any = None
            if prepare is not None:
                # Held: no other request can store this key meanwhile, so the reader's
                # snapshot is current for it.
                known = once.replay(SqliteKeys(self._reader(), 0).lookup(m.scope, m.key), fp)
                if known is not None:
                    return self._seen(known)
                prepared = await prepare()
            first = await self._writer.run(lambda tx: once.begin(
                keys(tx), m.scope, m.key, fp, lambda: begin(tx, prepared)))
            if not isinstance(first, Pending):
                return self._seen(first)
            recorded: list[StoredResponse] = []

            def record(tx: Tx, ans: Answer) -> None:
                if ans.storable:
                    recorded.append(once.record(keys(tx), m.scope, m.key, fp, ans))

            result = await asyncio.shield(finish(Finish(first.intent, record)))
            if isinstance(result, Refusal):
                raise result.error
            if recorded:
                return Fresh(recorded[-1])
            if not result.storable:
                return Fresh(StoredResponse(fp, result.status, result.body))
            return await self._writer.run(lambda tx: Fresh(once.record(
                keys(tx), m.scope, m.key, fp, result)))

