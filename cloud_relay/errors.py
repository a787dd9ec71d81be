"""The relay's own refusals, as kinds of `core.errors` (the one error base of the product).

Everything else the relay refuses is a shared kind raised as is: `BadRequest` (400),
`Unauthorized` (401), `Forbidden` (403), `NotFound` (404), `IdempotencyKeyMissing` /
`IdempotencyKeyReused` / `IdempotencyKeyInFlight`. Each maps once to an RFC 9457 problem at the
HTTP edge (`cloud_relay.app`, over `core.errors.DomainError`) and to an exit code at the CLI
edge. A sync refusal additionally carries its `SyncRefusal` (machine-readable reason + expected
seq) in the problem body.
"""

from __future__ import annotations

from core.errors import Conflict, DomainError
from schemas.sync import RefusalReason, SyncRefusal


class Rejected(DomainError):
    status, slug, title = 422, "rejected", "The request is well-formed but cannot be applied"


class Resync(Conflict):
    status, slug, title = 409, "resync", "The cursor belongs to another relay epoch: start again"


class AlreadyExists(Conflict):
    status, slug, title = 409, "already-exists", "Already exists"


REFUSAL_STATUS: dict[str, int] = {
    "gap": 409, "chain_mismatch": 409, "relay_behind": 409, "store_mismatch": 403,
    "malformed": 400, "bad_fingerprint": 422,
}


class Refused(DomainError):
    """A batch the relay will not store; the body says why in machine-readable form."""

    slug, title = "sync-refused", "Batch refused"

    def __init__(self, refusal: SyncRefusal, status: int | None = None) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal
        self.status = status or REFUSAL_STATUS[refusal.reason]
        self.slug = f"sync-{refusal.reason.replace('_', '-')}"


def refuse(reason: RefusalReason, detail: str, expected_seq: int | None = None,
           status: int | None = None) -> Refused:
    return Refused(SyncRefusal(reason=reason, detail=detail, expected_seq=expected_seq), status)
