"""RFC 9457 problem details: every error the API answers is one of these, mapped once here."""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec

from core.errors import DomainError, IdempotencyKeyMissing
from edge.api.bodies import field_error
from schemas.api import FieldError, Problem

log = structlog.get_logger("novapos.http")

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://novapos.dev/problems/"
_encoder = msgspec.json.Encoder()


def problem_response(
    status: int, slug: str, title: str, detail: str, *, instance: str | None = None,
    headers: dict[str, str] | None = None, **extra: Any,
) -> Response:
    errors = extra.pop("errors", None)
    field = extra.pop("field", None)
    if errors is None and field is not None:
        errors = [FieldError(field=field, message=detail)]
    elif errors is not None:
        errors = [e if isinstance(e, FieldError) else FieldError(**e) for e in errors]
    body = Problem(
        type=TYPE_BASE + slug, title=title, status=status, detail=detail, instance=instance,
        errors=errors, lines=extra.get("lines"), amount_due_minor=extra.get("amount_due_minor"),
        payment_id=extra.get("payment_id"), state=extra.get("state"),
        approval=extra.get("approval"),
    )
    return Response(
        content=_encoder.encode(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def domain_error(request: Request, exc: DomainError) -> Response:
    return problem_for(exc, request.url.path)


def problem_for(exc: DomainError, path: str) -> Response:
    """The one mapping of a domain error to its problem response."""
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
    return problem_response(exc.status, exc.slug, exc.title, exc.detail, instance=path,
                            headers=headers, **exc.extra)


def _validation_errors(extra: Any) -> list[FieldError]:
    out = []
    for item in extra if isinstance(extra, list) else []:
        if isinstance(item, dict):
            _, message = field_error(str(item.get("message", item)))
            out.append(FieldError(field=str(item.get("key") or item.get("source") or "body"),
                                  message=message))
    return out


def validation_error(request: Request, exc: ValidationException) -> Response:
    if "Idempotency-Key" in str(exc.detail) and "Missing required header" in str(exc.detail):
        # Declared required in the OpenAPI, so the framework refuses it before the gate does;
        # the answer is the idempotency problem type the gate would give.
        return domain_error(request, IdempotencyKeyMissing(
            "every mutating request needs an Idempotency-Key header", field="Idempotency-Key"))
    errors = _validation_errors(exc.extra)
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or str(exc.detail)
    return problem_response(400, "invalid-request", "The request is malformed or invalid", detail,
                            instance=request.url.path, errors=errors or None)


_TITLES = {
    400: ("invalid-request", "The request is malformed or invalid"),
    401: ("unauthorized", "A valid lane token is required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("body-too-large", "The request body is too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    slug, title = _TITLES.get(status, ("http-error", "Request failed"))
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", 'Bearer realm="novapos-edge"')
    if status >= 500:
        log.error("http error", status=status, path=request.url.path, detail=str(exc.detail),
                  exc_info=exc)
    return problem_response(status, slug, title, str(exc.detail), instance=request.url.path,
                            headers=headers or None)


def internal_error(request: Request, exc: Exception) -> Response:
    return internal_problem(request.method, request.url.path)


def internal_problem(method: str, path: str) -> Response:
    log.exception("unhandled error", method=method, path=path)
    return problem_response(500, "internal-error", "Internal error",
                            "the daemon failed to handle this request; retry with the same "
                            "Idempotency-Key", instance=path)


EXCEPTION_HANDLERS = {
    DomainError: domain_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    Exception: internal_error,
}


# What each status means, with the problem types (`type` ends in the slug) it carries. One
# vocabulary: 400 `invalid-request` is anything wrong with the request itself (syntax, types,
# a missing, unknown or contradictory field, a control character in text), whatever path it
# took; 422 is a well-formed request the store's data refuses.
_DOC = {
    400: "`invalid-request`: malformed JSON (syntax, not UTF-8, nested deeper than 32 levels), "
         "a field of the wrong type (strict: no strings or floats for integers), out of range, "
         "missing, unknown or contradicting another, control characters in text; `errors` "
         "names each field. `idempotency-key-missing`: no or a malformed Idempotency-Key",
    401: "`unauthorized`: missing, unknown or revoked lane token",
    402: "`card-declined`, `capture-refused`: the card was declined (the payment is recorded as "
         "declined; take another tender)",
    403: "`forbidden`: token of another tenant/store or lane; `manager-approval-required`: a "
         "manager token must do this (a discount above the cashier limit, a refund above it, "
         "while no approver is enrolled); `approval-required`: a manager must approve exactly "
         "this request (the problem's `approval` names it; retry with X-Approval-Token); "
         "`approval-token-invalid`, `-used`, `-expired`, `-mismatch`, `approval-key-revoked`, "
         "`approval-denied`: the token was refused",
    404: "`not-found`: no such cart, line, tender, order, refund, payment, voucher or item",
    409: "The request conflicts with the current state: `cart-closed`, `price-lock-expired`, "
         "`tender-insufficient`, `empty-cart`, `tender-pending`, `over-tendered`, "
         "`voucher-insufficient`, `card-tender-active`, `no-payment-terminal`, "
         "`payment-in-progress`, `refund-refused`, `idempotency-key-in-flight` (Retry-After)",
    413: "`body-too-large`: request body too large",
    415: "`unsupported-media-type`: the body is not `application/json` (the catalog import also "
         "takes `text/csv`)",
    422: "Well-formed but refused by the store's data: `unknown-item`, `unknown-voucher`, "
         "`invalid-input` (e.g. qty for a weighed item, a discount above the line), "
         "`catalog-rejected`; `card-number-refused`: a card number in a text field or the "
         "Idempotency-Key (nothing is stored); `idempotency-key-reused`: the key was used for "
         "another request",
    429: "`too-many-failed-authentications`: too many refused tokens from this address within "
         "the window ([auth_limit]): wait Retry-After seconds",
    503: "`payment-terminal-unavailable`, `payment-outcome-unknown`: the payment terminal is "
         "unreachable or its answer is not known yet (retry the same request: it is "
         "reconciled, never charged twice)",
}


def problem_doc(status: int) -> str:
    return _DOC[status]


def documented(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problems a route can answer (all share the Problem shape)."""
    return {
        status: ResponseSpec(data_container=Problem, description=_DOC[status],
                             media_type=PROBLEM_MEDIA_TYPE, generate_examples=False)
        for status in statuses
    }


READ_PROBLEMS = documented(400, 401, 403, 404, 429)
WRITE_PROBLEMS = documented(400, 401, 403, 404, 409, 413, 415, 422, 429)
# Routes that may talk to the payment terminal (edge.tender).
TENDER_PROBLEMS = documented(400, 401, 402, 403, 404, 409, 413, 415, 422, 429, 503)
