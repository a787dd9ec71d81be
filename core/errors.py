"""The one domain-error base, and the kinds every service shares.

A `DomainError` is a typed refusal: raising one inside a store or relay transaction rolls back
everything that request did. Each class maps once to an RFC 9457 problem at an HTTP edge (its
`status`, `slug` and `title`; the message is the `detail`, keyword extras become problem
members) and to an exit code at a CLI edge. Services subclass these kinds for their own
refusals; nothing else defines an error base.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"
    exit_code: int = 2
    # Seconds a client should wait before retrying, sent as Retry-After when set.
    retry_after_s: int | None = None

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(DomainError):
    """The request itself is malformed: syntax, types, a missing or extra field."""

    status, slug, title = 400, "invalid-request", "The request is malformed or invalid"


class InvalidInput(DomainError):
    """Well-formed, but the values break a rule (a quantity, an amount, a combination)."""

    status, slug, title = 422, "invalid-input", "The request is not valid"


class CardNumberRefused(DomainError):
    """A card number typed into a text field or an Idempotency-Key: refused before anything is
    stored (no card data at rest, `schemas.text`)."""

    status, slug, title = 422, "card-number-refused", \
        "A card number may not be typed into a text field or key"


class Unauthorized(DomainError):
    status, slug, title = 401, "unauthorized", "Valid credentials are required"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Not allowed for this credential"


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "The request conflicts with the current state"


class Unavailable(DomainError):
    status, slug, title, exit_code = 503, "unavailable", "The service is unavailable", 3


class IdempotencyKeyMissing(DomainError):
    status, slug, title = 400, "idempotency-key-missing", "Idempotency-Key header required"


class IdempotencyKeyReused(DomainError):
    status, slug, title = 422, "idempotency-key-reused", \
        "Idempotency-Key was used for another request"


class IdempotencyKeyInFlight(DomainError):
    status, slug, title = 409, "idempotency-key-in-flight", \
        "A request with this key is still running"
    retry_after_s = 1


class ConfigError(DomainError, ValueError):
    """A configuration file or setting the service refuses to run with (exit code 2 at the
    CLI; never an HTTP answer: a misconfigured service does not start)."""

    slug, title = "invalid-configuration", "The configuration is not valid"


class Refused(DomainError):
    """A service that will not start as asked, because starting would do harm (serve as
    another store, over a damaged configuration): exit code 4 at the CLI, distinct from bad
    input (2) and unavailable (3), so a supervisor can tell an operator to look."""

    slug, title, exit_code = "refused-to-start", "Refusing to start", 4
