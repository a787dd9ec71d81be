"""The fast lane: the few routes a lane calls on every sale (open a cart, scan, tender,
complete, and the item and stock look-ups), served without the framework's per-request
machinery, by the very handler functions the framework serves them with.

Why: a sale is six HTTP requests, and the framework's middleware, routing, signature parsing
and response objects cost more CPU than the sale's own work (docs/benchmarks.md). The fast
lane only takes the well-formed, authenticated common case: a route it knows, a lane token of
this store, path parameters within their bounds, and
- for a write: a valid Idempotency-Key, `application/json`, a body within the limit that
  decodes strictly into the route's contract;
- for a read (GET): no body, and a query string of exactly the declared parameters, each
  once, every value within its declared bounds once decoded as the framework decodes it
  (`query_pairs`). An unknown, repeated, missing or empty parameter is the framework's to judge
  (it ignores unknown ones, takes the last of repeated ones, refuses missing or empty ones).
Anything else (a bad token, a missing key, malformed JSON, another content type, an odd path or
query) is handed, unread bytes replayed, to the framework, which answers exactly as for any
other route. So every error has one answer, and the OpenAPI documents these routes like all
others.

Once taken, the request runs the route's handler (a bound controller method) with the same
typed arguments dependency injection would give it (`mutation`, `who`); a `DomainError` it
raises is mapped by the one problem mapping (`edge.api.problems.problem_for`); a struct it
returns is encoded as the framework encodes it (`encode_json` with the default serializer: a
hot handler, with the app's and its controller's layers, declares no type encoders, response
headers, cookies, caching, DTO or hooks, which `route` asserts at start).
`tests/edge/api/test_fastlane.py` proves the two paths answer byte for byte the same.
"""

from __future__ import annotations

import inspect
import re
from enum import Enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, get_type_hints
from urllib.parse import parse_qsl

from litestar import Controller, Litestar, Response
from litestar.handlers import HTTPRouteHandler
from litestar.params import ParameterKwarg
from litestar.serialization import encode_json
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.types.empty import Empty
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
# Handler parameters filled by injection, not read from the request's path or query.
_INJECTED = ("self", "mutation", "who", "data")
# What a hot read's query parameter may not declare: the fast lane judges lengths only.
_UNJUDGED = ("query", "required", "const", "gt", "ge", "lt", "le", "multiple_of", "min_items",
             "max_items", "pattern", "lower_case", "upper_case", "enum", "header", "cookie")

Bounds = tuple[int | None, int | None]


@dataclass(frozen=True, slots=True)
class FastRoute:
    method: str
    path: re.Pattern[str]
    template: str  # the route's path template, as metrics and logs name it
    call: Callable[..., Awaitable[Any]]
    body: bodies.Contract | None
    ints: tuple[str, ...]  # path parameters converted to int
    bounds: dict[str, Bounds]  # each path parameter's declared bounds
    query: dict[str, Bounds]  # a read's query parameters (all required str) and their lengths
    injected: frozenset[str]  # which of `mutation`, `who` the handler takes
    status: int  # of a returned struct (a returned Response carries its own)
    media_type: str


def route(app: Litestar, controller: type[Controller], handler: HTTPRouteHandler) -> FastRoute:
    """A fast route for `handler`, a route of the bound `controller` as `app` serves it: its
    method, path, query parameters, body type, status and media type read off the handler
    itself, and the very function the framework calls, so the two paths cannot disagree."""
    (method,) = handler.http_methods
    (sub,) = handler.paths
    full = "/" + "/".join(p.strip("/") for p in (controller.path, sub) if p.strip("/"))
    assert _SAFE_TEMPLATE.match(full), f"unexpected characters in route path {full}"
    served = _registered(app, full, method)
    ints = tuple(n for n, t in _PARAM.findall(full) if t == "int")
    regex = _PARAM.sub(lambda m: (_INT_PARAM if m.group(2) == "int" else _STR_PARAM)
                       .format(m.group(1)), full)
    hints = get_type_hints(handler.fn, include_extras=True)
    path_names = [name for name, _t in _PARAM.findall(full)]
    bounds = {name: _bounds(hints[name]) for name in path_names}
    params = inspect.signature(handler.fn).parameters
    query = {name: _query_bounds(full, name, hints[name], p.default)
             for name, p in params.items() if name not in (*_INJECTED, *path_names)}
    injected = frozenset(n for n in ("mutation", "who") if n in params)
    assert method != "GET" or ("mutation" not in injected and "data" not in params), full
    assert method == "GET" or not query, f"{full}: a write's query is not judged here"
    decoder = bodies.contract_of(handler.fn)
    media = served.media_type.value if isinstance(served.media_type, Enum) else served.media_type
    return FastRoute(method, re.compile(regex + r"\Z"), _PARAM.sub(r"{\1}", full), served.fn,
                     decoder, ints, bounds, query, injected, served.status_code, media)


def _registered(app: Litestar, path: str, method: str) -> HTTPRouteHandler:
    """The route handler `app` serves `method path` with (its layers resolved), asserted to
    declare nothing the fast lane's answers would lack."""
    (served,) = (h for r in app.routes if r.path == path for h in r.route_handlers
                 if method in h.http_methods)
    assert isinstance(served, HTTPRouteHandler)
    assert not (served.resolve_response_headers() or served.resolve_response_cookies()
                or served.resolve_type_encoders() or served.resolve_before_request()
                or served.resolve_after_response() or served.resolve_guards()
                or served.resolve_return_dto() or served.background or served.cache
                or served.etag or any(layer.after_request for layer in served.ownership_layers)
                ), f"{method} {path} declares what the fast lane would not apply"
    assert served.resolve_response_class() is Response, f"{method} {path}: own response class"
    return served


def _bounds(annotation: Any) -> Bounds:
    """(ge, le) of an int path parameter or (min_length, max_length) of a str one, as its
    `PathParameter` declares them."""
    for meta in getattr(annotation, "__metadata__", ()):
        ge, le = getattr(meta, "ge", None), getattr(meta, "le", None)
        lo, hi = getattr(meta, "min_length", None), getattr(meta, "max_length", None)
        if (ge, le, lo, hi) != (None, None, None, None):
            return (ge, le) if ge is not None or le is not None else (lo, hi)
    return None, None


def _query_bounds(path: str, name: str, annotation: Any, default: Any) -> Bounds:
    """(min_length, max_length) of a hot read's query parameter: a required `str` declared by
    `Parameter(...)` under its own name, with no constraint but its lengths (any other would be
    the framework's alone to judge: a wiring error, found at start)."""
    assert annotation is str and isinstance(default, ParameterKwarg), f"{path}: {name}"
    others = {f: getattr(default, f) for f in _UNJUDGED if getattr(default, f) is not None}
    assert default.default is Empty and not others, f"{path}: {name} declares {others}"
    return default.min_length, default.max_length


def query_pairs(query_string: bytes) -> list[tuple[str, str]]:
    """The query string's (name, value) pairs, decoded exactly as the framework decodes them
    (latin-1, then `parse_qsl` keeping blank values: `+` is a space, `%XX` UTF-8, a malformed
    escape kept as written). `tests/edge/api/test_fastlane.py` holds it to the framework's own
    parser."""
    return parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, separator="&")


def _within(value: int | str, bounds: Bounds) -> bool:
    lo, hi = bounds
    size = value if isinstance(value, int) else len(value)
    return (lo is None or size >= lo) and (hi is None or size <= hi)


def _query_args(r: FastRoute, query_string: bytes) -> dict[str, str] | None:
    """The read's query arguments when the query is the plain common case, else None."""
    if not r.query:
        return {} if not query_string else None
    pairs = query_pairs(query_string)
    args = dict(pairs)
    if len(args) != len(pairs) or args.keys() != r.query.keys():
        return None  # a repeated, missing or unknown parameter: the framework judges it
    if not all(_within(args[n], b) for n, b in r.query.items()):
        return None
    return args


def _no_body(headers: dict[bytes, bytes]) -> bool:
    return headers.get(b"content-length", b"0") == b"0" and b"transfer-encoding" not in headers


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
                    if r.method == "GET":
                        await self._read(r, m, scope, receive, send)
                    else:
                        await self._write(r, m, scope, receive, send)
                    return
        await self._app(scope, receive, send)

    async def _read(self, r: FastRoute, m: re.Match[str], scope: Scope, receive: Receive,
                    send: Send) -> None:
        headers = dict(scope["headers"])
        principal = self._principal(scope, headers)
        kwargs = self._path_args(r, m)
        query = _query_args(r, scope["query_string"])
        if principal is None or kwargs is None or query is None or not _no_body(headers):
            await self._app(scope, receive, send)
            return
        kwargs.update(query)
        if "who" in r.injected:
            kwargs["who"] = principal
        await self._run(r, kwargs, principal, scope, send)

    async def _write(self, r: FastRoute, m: re.Match[str], scope: Scope, receive: Receive,
                     send: Send) -> None:
        headers = dict(scope["headers"])
        principal = self._principal(scope, headers)
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
        kwargs = self._path_args(r, m)
        if kwargs is None:
            await self._app(scope, replay, send)
            return
        if r.body is not None:
            try:
                kwargs["data"] = r.body.decode(body)
            except DomainError:  # the framework's body gate answers it, the same way
                await self._app(scope, replay, send)
                return
        if "mutation" in r.injected:
            kwargs["mutation"] = Mutation(principal, key, scope["method"], scope["path"])
        if "who" in r.injected:
            kwargs["who"] = principal
        await self._run(r, kwargs, principal, scope, send)

    async def _run(self, r: FastRoute, kwargs: dict[str, Any], principal, scope: Scope,
                   send: Send) -> None:
        scope["user"] = principal
        scope["path_template"] = r.template
        self._served[r.template + r.method].inc()
        try:
            result = await r.call(**kwargs)
            if not isinstance(result, Response):  # a struct, as the framework encodes it
                await _start(send, r.status, r.media_type, encode_json(result), [])
                return
            response = result
        except DomainError as exc:
            response = problems.problem_for(exc, scope["path"])
        except Exception:  # noqa: BLE001 - answered like the framework answers it
            response = problems.internal_problem(scope["method"], scope["path"])
        await _send(response, send)

    @staticmethod
    def _path_args(r: FastRoute, m: re.Match[str]) -> dict[str, Any] | None:
        """The path parameters, converted, when every one is within its bounds."""
        kwargs: dict[str, Any] = dict(m.groupdict())
        for name in r.ints:
            kwargs[name] = int(kwargs[name])
        if not all(_within(kwargs[n], b) for n, b in r.bounds.items()):
            return None
        return kwargs

    def _principal(self, scope: Scope, headers: dict[bytes, bytes]):
        """The lane of a good token of this store, from a peer not locked out; None sends the
        request the framework's way (it answers 401, 403 or 429 and counts the failure)."""
        client = scope.get("client")
        if self._tokens.limiter.retry_after_s(client[0] if client else "") is not None:
            return None
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
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
    await _start(send, response.status_code, media, body,
                 [(k.lower().encode(), str(v).encode()) for k, v in response.headers.items()])


async def _start(send: Send, status: int, media: str, body: bytes,
                 headers: list[tuple[bytes, bytes]]) -> None:
    head = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
