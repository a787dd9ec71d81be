"""What routes are handed, and how an idempotent outcome becomes an HTTP response.

Routes decode, call a domain, encode. A controller declares the daemon's services it uses as
typed class attributes (`store: Store`, `payments: Payments`, ...); the composition root binds
them once, at start (`bind`): constructor wiring, nothing resolved per request. The request's
own values come by Litestar's dependency injection, at most one per handler (several would be
resolved in a task group, which costs more than the rest of a request): `who` (the lane's
`Principal`, set by the auth middleware) or `mutation` (the request as the idempotency gate
sees it: the principal, the validated Idempotency-Key, method and path). No domain function
takes a `Request`; the key is read and validated here, once, before a handler runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from litestar import Controller, MediaType, Request, Response
from litestar.di import Dependency
from litestar.params import HeaderParameter, SkipValidationMarker

from core import idempotency as once
from core.idempotency import Outcome, Replayed
from edge.lanes import Principal
from edge.store.idempotency import Mutation

T = TypeVar("T")
# A route parameter filled by name from the app's dependencies. Not re-validated per request:
# the values are the daemon's own objects (services) or built by `principal`/`mutation`.
Injected = Annotated[T, Dependency(kind="named"), SkipValidationMarker()]

IDEMPOTENCY_KEY_DOC = (
    "Required on every mutating request: 1-255 characters of A-Z a-z 0-9 . _ : ~ + / = - "
    "(a UUID is best), never a card number (422 card-number-refused). "
    "Same key + same request replays the stored response (header Idempotent-Replayed: true); "
    "same key + another request is 422; while the first is still running, 409 with "
    "Retry-After."
)

IdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key",
        required=True,
        description=IDEMPOTENCY_KEY_DOC,
        # Documented here; checked by `core.idempotency.check_key`, so a bad key is answered with
        # the idempotency problem types rather than a generic validation error.
        schema_extra={
            "minLength": 1,
            "maxLength": once.MAX_KEY_LENGTH,
            "pattern": once.KEY_PATTERN,
        },
    ),
]


def principal(request: Request) -> Principal:
    return request.user


def mutation(request: Request, idempotency_key: IdempotencyKey) -> Mutation:
    return Mutation(
        who=request.user,
        key=once.check_key(idempotency_key),
        method=request.method,
        path=request.scope["path"],
    )


def bind(controller: type[Controller], services: Mapping[str, object]) -> type[Controller]:
    """`controller` with its declared services set. A declared name the daemon does not have
    is a wiring error, found at start, not at the first request."""
    wanted = {
        name
        for name in _declared(controller)
        if not hasattr(Controller, name) and not name.startswith("_")
    }
    missing = sorted(wanted - services.keys())
    assert not missing, f"{controller.__name__} declares services the daemon lacks: {missing}"
    return type(controller.__name__, (controller,), {n: services[n] for n in wanted})


def _declared(controller: type[Controller]) -> dict[str, object]:
    """Class-level annotations declared by the controller (and its bases below Controller)."""
    found: dict[str, object] = {}
    for klass in reversed(controller.__mro__):
        if klass is Controller or not issubclass(klass, Controller):
            continue
        found.update(klass.__dict__.get("__annotations__", {}))
    return found


def respond(outcome: Outcome) -> Response[Any]:
    """The stored (or fresh) answer, byte for byte; a replay says so in a header."""
    r = outcome.response
    headers = {"Idempotent-Replayed": "true"} if isinstance(outcome, Replayed) else None
    return Response(
        content=r.body, status_code=r.status, media_type=MediaType.JSON, headers=headers
    )
