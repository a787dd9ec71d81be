"""The fast lane: the few routes a lane calls on every sale (open a cart, scan, tender,
complete), served without the framework's per-request machinery, by the very handler functions
the framework serves them with.

Why: a sale is six HTTP requests, and the framework's middleware, routing, signature parsing
and response objects cost more CPU than the sale's own work (docs/benchmarks.md). The fast
lane only takes the well-formed, authenticated common case: a route it knows, a lane token of
this store, a valid Idempotency-Key, `application/json`, a body within the limit that decodes
strictly into the route's contract, path parameters within their bounds. Anything else (a bad
token, a missing key, malformed JSON, another content type, an odd path) is handed, unread
bytes replayed, to the framework, which answers exactly as for any other route. So every error
has one answer, and the OpenAPI documents these routes like all others.

Once taken, the request runs the route's handler (a bound controller method) with the same
typed arguments dependency injection would give it; a `DomainError` it raises is mapped by the
one problem mapping (`edge.api.problems.problem_for`). `tests/edge/api/test_fastlane.py`
proves the two paths answer byte for byte the same.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

from litestar import Controller, Response
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send
from prometheus_client import Counter

from core import idempotency as once
from core.errors import DomainError
from edge.api import bodies, problems
from edge.api.auth import LaneTokens
from edge.store.idempotency import Mutation
from schemas import text

# Path parameters the fast lane accepts; the framework judges any other value.
_STR_PARAM = r"(?P<{}>[A-Za-z0-9._-]{{1,64}})"
_INT_PARAM = r"(?P<{}>[1-9][0-9]{{0,5}})"
_PARAM = re.compile(r"\{(\w+):(str|int)\}")
_SAFE_TEMPLATE = re.compile(r"^/[A-Za-z0-9/_{}:.-]*$")
_KEY = re.compile(once.KEY_PATTERN)


@dataclass(frozen=True, slots=True)
class FastRoute:
    method: str
    path: re.Pattern[str]
    template: str  # the route's path template, as metrics and logs name it
    call: Callable[..., Awaitable[Response]]
    body: bodies.Contract | None
    ints: tuple[str, ...]  # path parameters converted to int
    bounds: dict[str, tuple[int | None, int | None]]  # each path parameter's declared bounds


def route(controller: type[Controller], handler: HTTPRouteHandler) -> FastRoute:
    """A fast route for `handler`, a route of the bound `controller`: its method, path and
    body type read off the handler itself, so the two paths cannot disagree on them."""
    (method,) = handler.http_methods
    (sub,) = handler.paths
    full = "/" + "/".join(p.strip("/") for p in (controller.path, sub) if p.strip("/"))
    assert _SAFE_TEMPLATE.match(full), f"unexpected characters in route path {full}"
    ints = tuple(n for n, t in _PARAM.findall(full) if t == "int")
    regex = _PARAM.sub(lambda m: (_INT_PARAM if m.group(2) == "int" else _STR_PARAM)
                       .format(m.group(1)), full)
    hints = get_type_hints(handler.fn, include_extras=True)
    bounds = {name: _bounds(hints[name]) for name, _t in _PARAM.findall(full)}
    decoder = bodies.contract_of(handler.fn)
    fn = handler.fn

    async def call(**kwargs: Any) -> Response:
        return await fn(controller, **kwargs)  # services are the bound class's attributes

    return FastRoute(method, re.compile(regex + r"\Z"), _PARAM.sub(r"{\1}", full), call,
                     decoder, ints, bounds)


def _bounds(annotation: Any) -> tuple[int | None, int | None]:
    """(ge, le) of an int path parameter or (min_length, max_length) of a str one, as its
    `PathParameter` declares them."""
    for meta in getattr(annotation, "__metadata__", ()):
        ge, le = getattr(meta, "ge", None), getattr(meta, "le", None)
        lo, hi = getattr(meta, "min_length", None), getattr(meta, "max_length", None)
        if (ge, le, lo, hi) != (None, None, None, None):
            return (ge, le) if ge is not None or le is not None else (lo, hi)
    return None, None


def _within(value: int | str, bounds: tuple[int | None, int | None]) -> bool:
    lo, hi = bounds
    size = value if isinstance(value, int) else len(value)
    return (lo is None or size >= lo) and (hi is None or size <= hi)


class FastLane:
    def __init__(self, app: ASGIApp, routes: list[FastRoute], tokens: LaneTokens,
                 max_body_bytes: int, served: Counter) -> None:
        self._app = app
        self._served = {r.template + r.method: served.labels(r.method, r.template) for r in routes}
        self._routes: dict[str, list[FastRoute]] = {}
        for r in routes:
            self._routes.setdefault(r.method, []).append(r)
        self._tokens = tokens
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for r in self._routes.get(scope["method"], ()):
                m = r.path.match(scope["path"])
                if m is not None:
                    await self._serve(r, m, scope, receive, send)
                    return
        await self._app(scope, receive, send)

    async def _serve(self, r: FastRoute, m: re.Match[str], scope: Scope, receive: Receive,
                     send: Send) -> None:
        client = scope.get("client")
        if self._tokens.limiter.retry_after_s(client[0] if client else "") is not None:
            await self._app(scope, receive, send)  # locked out: the framework answers 429
            return
        headers = dict(scope["headers"])
        principal = self._principal(headers.get(b"authorization", b""))
        key = headers.get(b"idempotency-key", b"").decode("latin-1")
        ctype = bodies.media_type(headers.get(b"content-type"))
        if (principal is None or not _KEY.match(key) or text.has_card_number(key)
                or (r.body is not None and ctype != bodies.JSON)):
            await self._app(scope, receive, send)
            return
        body, messages = await bodies.read_body(receive, self._max_body_bytes)
        replay = bodies.replaying(messages, receive)
        if body is None:  # too big: the framework answers 413
            await self._app(scope, replay, send)
            return
        kwargs: dict[str, Any] = dict(m.groupdict())
        for name in r.ints:
            kwargs[name] = int(kwargs[name])
        if not all(_within(kwargs[n], b) for n, b in r.bounds.items()):
            await self._app(scope, replay, send)
            return
        if r.body is not None:
            try:
                kwargs["data"] = r.body.decode(body)
            except DomainError:  # the framework's body gate answers it, the same way
                await self._app(scope, replay, send)
                return
        scope["user"] = principal
        scope["path_template"] = r.template
        kwargs["mutation"] = Mutation(principal, key, scope["method"], scope["path"])
        self._served[r.template + r.method].inc()
        try:
            response = await r.call(**kwargs)
        except DomainError as exc:
            response = problems.problem_for(exc, scope["path"])
        except Exception:  # noqa: BLE001 - answered like the framework answers it
            response = problems.internal_problem(scope["method"], scope["path"])
        await _send(response, send)

    def _principal(self, authorization: bytes):
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        principal = self._tokens.lookup(token.strip())
        if principal is None or not self._tokens.of_this_store(principal):
            return None
        return principal


async def _send(response: Response, send: Send) -> None:
    body = response.content if isinstance(response.content, bytes) else b""
    media = response.media_type if isinstance(response.media_type, str) else str(
        response.media_type.value)
    headers = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), str(v).encode()) for k, v in response.headers.items()]
    await send({"type": "http.response.start", "status": response.status_code,
                "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
