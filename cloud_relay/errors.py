"""Relay errors. Each maps once to an RFC 9457 problem at the HTTP edge (`cloud_relay.app`)
and to an exit code at the CLI edge. A sync refusal additionally carries its `SyncRefusal`
(machine-readable reason + expected seq) in the problem body."""

from __future__ import annotations

from typing import Any

from schemas.sync import SyncRefusal


class RelayError(Exception):
    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"
    exit_code: int = 2
    retry_after_s: int | None = None

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class Unauthorized(RelayError):
    status, slug, title = 401, "unauthorized", "A valid store signature or HQ token is required"


class Forbidden(RelayError):
    status, slug, title = 403, "forbidden", "Not allowed for this credential"


class NotFound(RelayError):
    status, slug, title = 404, "not-found", "Not found"


class InvalidInput(RelayError):
    status, slug, title = 400, "invalid-request", "The request is malformed or invalid"


class Rejected(RelayError):
    status, slug, title = 422, "rejected", "The request is well-formed but cannot be applied"


class MissingIdempotencyKey(RelayError):
    status, slug, title = 400, "idempotency-key-missing", "Idempotency-Key header required"


class IdempotencyKeyReused(RelayError):
    status, slug, title = 422, "idempotency-key-reused", \
        "Idempotency-Key was used for another request"


class IdempotencyKeyInFlight(RelayError):
    status, slug, title = 409, "idempotency-key-in-flight", \
        "A request with this key is still running"
    retry_after_s = 1


class Resync(RelayError):
    status, slug, title = 409, "resync", "The cursor belongs to another relay epoch: start again"


class AlreadyExists(RelayError):
    status, slug, title = 409, "already-exists", "Already exists"


REFUSAL_STATUS = {
    "gap": 409, "chain_mismatch": 409, "relay_behind": 409, "store_mismatch": 403,
    "malformed": 400, "bad_fingerprint": 422,
}


class Refused(RelayError):
    """A batch the relay will not store; the body says why in machine-readable form."""

    slug, title = "sync-refused", "Batch refused"

    def __init__(self, refusal: SyncRefusal, status: int | None = None) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal
        self.status = status or REFUSAL_STATUS[refusal.reason]
        self.slug = f"sync-{refusal.reason.replace('_', '-')}"


def refuse(reason: str, detail: str, expected_seq: int | None = None,
           status: int | None = None) -> Refused:
    return Refused(SyncRefusal(reason=reason, detail=detail, expected_seq=expected_seq),  # type: ignore[arg-type]
                   status)
