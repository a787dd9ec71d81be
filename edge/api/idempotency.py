"""Idempotency-Key handling for every mutating route (IETF httpapi Idempotency-Key draft).

- missing key: 400; a key longer than 255 characters or with control characters: 400;
- same key, same request (method, path, canonical body): the stored response is replayed with
  `Idempotent-Replayed: true`, nothing is executed again;
- same key, different request: 422;
- same key while the first request is still being processed: 409 with Retry-After.
The effect and the stored response commit in the same savepoint (see `edge.store.writer`), so
a crash leaves both or neither. Only 2xx responses are stored: a refused request changed
nothing, so repeating it is safe and re-evaluated.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import MediaType, Request, Response

from core.errors import DomainError
from edge.lanes import Principal
from edge.store import idempotency
from core.idempotency import StoredResponse
from edge.store.writer import Tx

MAX_KEY_LENGTH = 255
_encoder = msgspec.json.Encoder()


class MissingIdempotencyKey(DomainError):
    status, slug, title = 400, "idempotency-key-missing", "Idempotency-Key header required"


class IdempotencyKeyReused(DomainError):
    status, slug, title = 422, "idempotency-key-reused", "Idempotency-Key was used for another request"


class IdempotencyKeyInFlight(DomainError):
    status, slug, title = 409, "idempotency-key-in-flight", "A request with this key is still running"
    retry_after_s = 1


def fingerprint(method: str, path: str, payload: Any) -> bytes:
    h = hashlib.sha256()
    h.update(f"{method} {path}\n".encode())
    h.update(_encoder.encode(payload))
    return h.digest()


def _key(request: Request) -> str:
    key = request.headers.get("idempotency-key")
    if key is None or not key.strip():
        raise MissingIdempotencyKey("every mutating request needs an Idempotency-Key header")
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise MissingIdempotencyKey(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters", field="Idempotency-Key"
        )
    return key


class IdempotencyGate:
    def __init__(self, service: Any) -> None:
        self._service = service
        self._in_flight: set[tuple[str, str]] = set()

    async def run(
        self, request: Request, who: Principal, payload: Any,
        effect: Callable[[Tx], tuple[int, Any]],
    ) -> Response:
        key = _key(request)
        slot = (who.lane_id, key)
        if slot in self._in_flight:
            raise IdempotencyKeyInFlight(
                "the first request with this Idempotency-Key has not finished; retry shortly",
            )
        fp = fingerprint(request.method, request.scope["path"], payload)

        def command(tx: Tx) -> tuple[bool, StoredResponse]:
            stored = idempotency.SqliteKeys(tx.conn, 0).lookup(who.lane_id, key)
            if stored is not None:
                if stored.fingerprint != fp:
                    raise IdempotencyKeyReused(
                        "this Idempotency-Key was already used with a different request"
                    )
                return True, stored
            status, view = effect(tx)
            fresh = StoredResponse(fp, status, _encoder.encode(view))
            idempotency.SqliteKeys(tx.conn, tx.now_ms).save(who.lane_id, key, fresh)
            return False, fresh

        self._in_flight.add(slot)
        try:
            replayed, response = await self._service.writer.run(command)
        finally:
            self._in_flight.discard(slot)
        headers = {}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
            self._service.metrics.idempotent_replays_total.inc()
        return Response(content=response.body, status_code=response.status,
                        media_type=MediaType.JSON, headers=headers)

    async def run_phased(
        self, request: Request, who: Principal, payload: Any,
        begin: Callable[[Tx], tuple[str, Any]],
        finish: Callable[[Any, Callable[[Tx, int, Any], None]], Awaitable[tuple[int, Any]]],
    ) -> Response:
        """For effects with device I/O between two commits (card payments, reversals, card
        refunds). `begin(tx)` runs in the writer like an effect and answers ("done", (status,
        view)) when no I/O is needed, or ("io", intent) once it has committed the intent;
        `finish(intent, save)` then does the I/O outside the writer, commits the result itself
        and answers (status, view) — or (status, DomainError) to refuse after the commit. A 2xx
        is stored for the key, so a retry replays it: `save(tx, status, view)` stores it inside
        finish's own result commit (one fsync fewer), else the gate stores it afterwards in a
        command of its own. A retry that arrives after a crash
        between the two finds the intent through the domain (the payment records the key) and is
        reconciled, never executed twice. `finish` is shielded: a client that hangs up does not
        stop a payment half-way."""
        key = _key(request)
        slot = (who.lane_id, key)
        if slot in self._in_flight:
            raise IdempotencyKeyInFlight(
                "the first request with this Idempotency-Key has not finished; retry shortly",
            )
        fp = fingerprint(request.method, request.scope["path"], payload)

        def first(tx: Tx) -> tuple[bool, StoredResponse | None, Any]:
            stored = idempotency.SqliteKeys(tx.conn, 0).lookup(who.lane_id, key)
            if stored is not None:
                if stored.fingerprint != fp:
                    raise IdempotencyKeyReused(
                        "this Idempotency-Key was already used with a different request"
                    )
                return True, stored, None
            kind, value = begin(tx)
            if kind == "done":
                status, view = value
                if isinstance(view, DomainError):
                    raise view
                fresh = StoredResponse(fp, status, _encoder.encode(view))
                idempotency.SqliteKeys(tx.conn, tx.now_ms).save(who.lane_id, key, fresh)
                return False, fresh, None
            return False, None, value

        self._in_flight.add(slot)
        try:
            replayed, response, intent = await self._service.writer.run(first)
            if response is None:
                saved: list[bytes] = []

                def save_in(tx: Tx, status: int, view: Any) -> None:
                    if (200 <= status < 300 and not isinstance(view, DomainError)
                            and idempotency.SqliteKeys(tx.conn, 0).lookup(who.lane_id, key) is None):
                        body = _encoder.encode(view)
                        idempotency.SqliteKeys(tx.conn, tx.now_ms).save(
                            who.lane_id, key, StoredResponse(fp, status, body))
                        saved.append(body)

                status, view = await asyncio.shield(finish(intent, save_in))
                if isinstance(view, DomainError):
                    raise view
                response = StoredResponse(fp, status, saved[-1] if saved
                                          else _encoder.encode(view))
                if 200 <= status < 300 and not saved:
                    done = response

                    def save(tx: Tx) -> None:
                        if idempotency.SqliteKeys(tx.conn, 0).lookup(who.lane_id, key) is None:
                            idempotency.SqliteKeys(tx.conn, tx.now_ms).save(who.lane_id, key, done)

                    await self._service.writer.run(save)
        finally:
            self._in_flight.discard(slot)
        headers = {}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
            self._service.metrics.idempotent_replays_total.inc()
        return Response(content=response.body, status_code=response.status,
                        media_type=MediaType.JSON, headers=headers)
