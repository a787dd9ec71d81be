"""The relay's Litestar application: store routes (HMAC), HQ routes (bearer), problem mapping.

Routes are thin: authenticate, decode, call the domain module in a worker thread (storage calls
block), encode. Nothing is kept between requests except the storage handle and the per-process
count of refused credentials per peer (`core.ratelimit`): every relay process over the same
database answers the same (the replay cache of store signatures is in the database).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar

import msgspec
import structlog
from litestar import Litestar, Request, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.params import PathParameter

import cloud_relay
from cloud_relay import (
    approvals,
    auth,
    downsync,
    hq,
    ingest,
    inventory_routes,
    loyalty,
    loyalty_routes,
    promotions_routes,
)
from cloud_relay import returns as hq_returns
from cloud_relay.errors import Refused
from cloud_relay.metrics import RelayMetrics
from cloud_relay.storage.base import Storage
from schemas.relay import MAX_LEDGER_PAGE, PublishChanges
from schemas.sync import HEADER_ACKED_THROUGH, MAX_DOWN_CHANGES, MSGPACK_CONTENT_TYPE
from core.errors import BadRequest, DomainError, Unauthorized
from core.ratelimit import AuthFailureLimit, FailureLimiter

log = structlog.get_logger("novapos.relay")

PROBLEM_MEDIA_TYPE = "application/problem+json"
JSON = "application/json"
TYPE_BASE = "https://novapos.dev/problems/"
# A compressed batch is at most MAX_BATCH_BYTES; a catalog import at most 16 MiB of text.
MAX_BODY_BYTES = 17 * 1024 * 1024

StoreId = Annotated[str, PathParameter(min_length=1, max_length=64)]
T = TypeVar("T")

_json = msgspec.json.Encoder()
_msgpack = msgspec.msgpack.Encoder()


def problem(status: int, slug: str, title: str, detail: str, instance: str,
            headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail,
            "instance": instance, **{k: v for k, v in extra.items() if v is not None}}
    return Response(content=_json.encode(body), status_code=status,
                    media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _domain_error(request: Request, exc: DomainError) -> Response:
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
    extra = dict(exc.extra)
    if isinstance(exc, Refused):  # the SyncRefusal's fields, at the top level of the problem
        extra.update(reason=exc.refusal.reason, expected_seq=exc.refusal.expected_seq)
        if exc.refusal.reason in ("chain_mismatch", "relay_behind"):
            log.warning("batch refused", path=request.url.path, reason=exc.refusal.reason,
                        expected_seq=exc.refusal.expected_seq, detail=exc.detail)
    if exc.status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'HMAC realm="novapos-relay"'}
    return problem(exc.status, exc.slug, exc.title, exc.detail, request.url.path, headers,
                   **extra)


def _http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    slug = {404: "not-found", 405: "method-not-allowed", 413: "body-too-large"}.get(
        status, "bad-request" if status < 500 else "internal-error")
    return problem(status, slug, str(exc.detail), str(exc.detail), request.url.path,
                   dict(exc.headers or {}) or None)


def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable", method=request.method, path=request.url.path,
                error=f"{type(exc).__name__}: {exc}")
    return problem(503, "database-unavailable", "The relay's database is unavailable",
                   "nothing was stored or acknowledged; retry with the same request",
                   request.url.path, {"Retry-After": "1"})


def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", method=request.method, path=request.url.path, exc_info=exc)
    return problem(500, "internal-error", "Internal error", "the relay failed to handle this "
                   "request; nothing was acknowledged, retry with the same Idempotency-Key",
                   request.url.path)


def _storage(request: Request) -> Storage:
    return request.app.state.storage


def _now_ms(request: Request) -> int:
    return request.app.state.now_ms()


def _path_qs(request: Request) -> str:
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    qs = request.scope.get("query_string", b"")
    return (raw_path + (b"?" + qs if qs else b"")).decode("latin-1")


def _peer(request: Request) -> str:
    return request.client.host if request.client else ""


async def _limited(request: Request, verify: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`verify` in a worker thread, unless the peer is locked out for refused credentials
    (429, `core.ratelimit`); a refusal (401) counts against the peer."""
    limiter: FailureLimiter = request.app.state.auth_limiter
    peer = _peer(request)
    limiter.check(peer)
    try:
        return await sync_to_thread(verify, *args, **kwargs)
    except Unauthorized:
        limiter.failed(peer)
        raise


async def _store(request: Request, store_id: str, body: bytes = b"") -> auth.StorePrincipal:
    return await _limited(
        request, auth.verify_store, _storage(request), headers=request.headers,
        method=request.method, path_qs=_path_qs(request), body=body, now_ms=_now_ms(request),
        path_store_id=store_id)


async def _hq(request: Request) -> str:
    return await _limited(request, auth.verify_hq, _storage(request),
                          request.headers.get("authorization"))


def _json_response(value: Any, status: int = 200) -> Response:
    return Response(content=_json.encode(value), status_code=status, media_type=JSON)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, not {text[:32]!r}", field=name) from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}", field=name)
    return value


# --- store routes ----------------------------------------------------------------------------


@post("/v1/stores/{store_id:str}/batches", status_code=200)
async def upload_batch(request: Request, store_id: StoreId) -> Response:
    metrics: RelayMetrics = request.app.state.metrics
    raw = await request.body()
    started = time.perf_counter()
    try:
        who = await _store(request, store_id, raw)
        acked = ingest.parse_acked_through(request.headers.get(HEADER_ACKED_THROUGH))
        ack = await ingest.ingest_async(_storage(request), who, raw,
                                        request.headers.get("idempotency-key"), acked,
                                        _now_ms(request))
    except Refused as exc:
        metrics.batches_total.labels(exc.refusal.reason).inc()
        raise
    except DomainError as exc:
        metrics.batches_total.labels(exc.slug).inc()
        raise
    metrics.ingest_seconds.observe(time.perf_counter() - started)
    metrics.batches_total.labels("acked" if ack.stored else "replayed").inc()
    metrics.events_stored_total.inc(ack.stored)
    metrics.events_quarantined_total.inc(len(ack.quarantined) if ack.stored else 0)
    return Response(content=ingest.encode_ack(ack), media_type=JSON)


@get("/v1/stores/{store_id:str}/watermark")
async def watermark(request: Request, store_id: StoreId) -> Response:
    who = await _store(request, store_id)
    head = request.query_params.get("head_seq")
    applied = request.query_params.get("applied_change_id")
    head_seq = _int_param(request, "head_seq", 0, 0, 2**62) if head else None
    applied_id = _int_param(request, "applied_change_id", 0, 0, 2**62) if applied else None
    mark = await sync_to_thread(_storage(request).watermark, who.tenant_id, who.store_id,
                                _now_ms(request), head_seq, applied_id)
    return _json_response(mark)


@get("/v1/stores/{store_id:str}/changes")
async def changes(request: Request, store_id: StoreId) -> Response:
    who = await _store(request, store_id)
    after = _int_param(request, "after", 0, 0, 2**62)
    limit = _int_param(request, "limit", MAX_DOWN_CHANGES, 1, MAX_DOWN_CHANGES)
    # Balances sent down count everything uploaded so far.
    await sync_to_thread(loyalty.settle, _storage(request), who.tenant_id, _now_ms(request))
    change_set = await sync_to_thread(downsync.change_set, _storage(request), who.tenant_id,
                                      who.store_id, after, limit)
    if MSGPACK_CONTENT_TYPE in request.headers.get("accept", ""):
        return Response(content=_msgpack.encode(change_set), media_type=MSGPACK_CONTENT_TYPE)
    return _json_response(change_set)


# --- HQ routes -------------------------------------------------------------------------------


@get("/v1/ledger")
async def ledger(request: Request) -> Response:
    tenant = await _hq(request)
    limit = _int_param(request, "limit", 1000, 1, MAX_LEDGER_PAGE)
    # Encoded without a Python object per event (`hq.ledger_page_json`): a page of 5,000
    # events is ~15 MB of JSON.
    page = await sync_to_thread(hq.ledger_page_json, _storage(request), tenant,
                                request.query_params.get("after"), limit,
                                request.query_params.get("store"))
    return Response(content=page, media_type=JSON)


@get("/v1/stores")
async def sync_status(request: Request) -> Response:
    tenant = await _hq(request)
    return _json_response(await sync_to_thread(hq.sync_status, _storage(request), tenant))


def _date_param(request: Request, name: str) -> str | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise BadRequest(f"{name} must be a date YYYY-MM-DD, not {text[:32]!r}",
                         field=name) from None


@get("/v1/reconciliation")
async def reconciliation(request: Request) -> Response:
    tenant = await _hq(request)
    q = request.query_params
    return _json_response(await sync_to_thread(
        hq.reconciliation, _storage(request), tenant, q.get("store"),
        _date_param(request, "business_date")))


@get("/v1/hq/price-variances")
async def price_variances(request: Request) -> Response:
    tenant = await _hq(request)
    q = request.query_params
    return _json_response(await sync_to_thread(
        hq.price_variances, _storage(request), tenant, q.get("store"), q.get("business_date")))


@get("/v1/hq/follow-ups")
async def follow_ups(request: Request) -> Response:
    """Offline card payments declined after forwarding: money a store counted and never got."""
    tenant = await _hq(request)
    return _json_response(await sync_to_thread(
        hq.follow_ups, _storage(request), tenant, request.query_params.get("store")))


@get("/v1/hq/returns")
async def returns_list(request: Request) -> Response:
    """Returns uploaded by the stores, with their fraud flags (docs/returns.md)."""
    tenant = await _hq(request)
    q = request.query_params
    return _json_response(await sync_to_thread(
        hq_returns.returns, _storage(request), tenant, q.get("flag"), q.get("store")))


@get("/v1/hq/approvals")
async def hq_approvals(request: Request) -> Response:
    """Manager approvals per store and approver (docs/approvals.md)."""
    tenant = await _hq(request)
    return _json_response(await sync_to_thread(
        approvals.summary, _storage(request), tenant, request.query_params.get("store"),
        _date_param(request, "business_date")))


@get("/v1/hq/quarantine")
async def quarantine(request: Request) -> Response:
    tenant = await _hq(request)
    return _json_response(await sync_to_thread(hq.quarantine, _storage(request), tenant))


@post("/v1/hq/changes", status_code=201)
async def publish_changes(request: Request) -> Response:
    tenant = await _hq(request)
    raw = await request.body()
    try:
        doc = msgspec.json.decode(raw, type=PublishChanges)
    except msgspec.DecodeError as exc:
        raise BadRequest(f"not a valid publish document: {exc}") from None
    result = await sync_to_thread(downsync.publish, _storage(request), tenant, doc,
                                  _now_ms(request))
    return _json_response(result, 201)


@post("/v1/hq/catalog", status_code=201)
async def publish_catalog(request: Request) -> Response:
    """The edge's catalog import format: JSON document, or CSV with Content-Type text/csv."""
    tenant = await _hq(request)
    raw = await request.body()
    is_csv = request.headers.get("content-type", "").startswith("text/csv")
    result = await sync_to_thread(downsync.publish_catalog_file, _storage(request), tenant, raw,
                                  is_csv, _now_ms(request))
    return _json_response(result, 201)


@get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(content=request.app.state.metrics.exposition(),
                    media_type="text/plain; version=0.0.4")


@get("/health/live")
async def live() -> Response:
    return _json_response({"status": "live"})


@get("/health/ready")
async def ready(request: Request) -> Response:
    storage = _storage(request)
    return _json_response({"status": "ready", "backend": storage.backend,
                           "relay_epoch": storage.epoch, "version": cloud_relay.__version__})


def _unavailable_errors() -> tuple[type[Exception], ...]:
    """Driver errors that mean "the database cannot be reached or is locked right now"."""
    import apsw
    import psycopg
    import psycopg_pool

    return (psycopg.OperationalError, psycopg_pool.PoolTimeout, apsw.BusyError,
            apsw.CantOpenError, apsw.IOError)


def create_app(storage: Storage, now_ms: Callable[[], int],
               auth_limit: AuthFailureLimit = AuthFailureLimit()) -> Litestar:
    return Litestar(
        route_handlers=[upload_batch, watermark, changes, ledger, sync_status, reconciliation,
                        price_variances, quarantine, publish_changes, publish_catalog, live,
                        ready, metrics, follow_ups, returns_list, hq_approvals,
                        *inventory_routes.handlers(_hq, _storage, _now_ms, _json_response),
                        *promotions_routes.routes(_hq), *loyalty_routes.ROUTES],
        dependencies={"hq_tenant": Provide(_hq)},
        exception_handlers={  # type: ignore[dict-item]
            DomainError: _domain_error, HTTPException: _http_error,
            **{exc: _database_unavailable for exc in _unavailable_errors()},
            Exception: _internal_error,
        },
        state=State({"storage": storage, "now_ms": now_ms, "metrics": RelayMetrics(),
                     "auth_limiter": FailureLimiter(auth_limit)}),
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=None,
        debug=False,
        logging_config=None,
    )
