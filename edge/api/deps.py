"""What routes are handed, and how an idempotent outcome becomes an HTTP response.

Routes decode, call a domain, encode. The typed values they need come through Litestar's
dependency injection: `who` (the lane's `Principal`, set by the auth middleware), `mutation`
(the request as the idempotency gate sees it: the lane's scope, the validated Idempotency-Key,
method and path) and the daemon's services (`edge.compose`). No domain function takes a
`Request`; the key is read and validated here, once, before a handler runs.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from litestar import MediaType, Request, Response
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
    "Required on every mutating request: 1-255 characters of A-Z a-z 0-9 . _ : ~ + / = -. "
    "Same key + same request replays the stored response (header Idempotent-Replayed: true); "
    "same key + another request is 422; while the first is still running, 409 with "
    "Retry-After.")

IdempotencyKey = Annotated[str, HeaderParameter(
    name="Idempotency-Key", required=True, description=IDEMPOTENCY_KEY_DOC,
    # Documented here; checked by `core.idempotency.check_key`, so a bad key is answered with
    # the idempotency problem types rather than a generic validation error.
    schema_extra={"minLength": 1, "maxLength": once.MAX_KEY_LENGTH,
                  "pattern": once.KEY_PATTERN})]


def principal(request: Request) -> Principal:
    return request.user


def mutation(request: Request, idempotency_key: IdempotencyKey) -> Mutation:
    who: Principal = request.user
    return Mutation(scope=who.lane_id, key=once.check_key(idempotency_key),
                    method=request.method, path=request.scope["path"])


def respond(outcome: Outcome) -> Response[Any]:
    """The stored (or fresh) answer, byte for byte; a replay says so in a header."""
    r = outcome.response
    headers = {"Idempotent-Replayed": "true"} if isinstance(outcome, Replayed) else None
    return Response(content=r.body, status_code=r.status, media_type=MediaType.JSON,
                    headers=headers)
