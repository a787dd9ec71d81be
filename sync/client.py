"""The relay's HTTP client for one store: httpx, every request HMAC-signed (`core.signing`,
scheme 2: its signed headers are sent exactly as signed, a fresh nonce each time).

Talks the relay's wire contract (`schemas.sync`):
- `POST /v1/stores/{store}/batches`, body = the frozen batch bytes, `Idempotency-Key` = batch
  id, `X-NovaPOS-Acked-Through` = the highest seq the store holds an ack for (lets the relay
  tell "restored from a backup" from "the store skipped ahead");
- `GET /v1/stores/{store}/watermark?head_seq=&applied_change_id=` (reports our head and the
  last change applied, so HQ sees lag and catalog state);
- `GET /v1/stores/{store}/changes?after=&limit=` as msgpack.

Every answer is classified into one `Outcome` (ack, refusal, retry-later, failure); the engine
decides what to do with it. TLS: `https://` relay URLs are verified against `tls_ca_file` when
set, else the system trust store; verification is never switched off.
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec

from core import signing
from core.clock import SystemClock
from schemas.sync import (
    BATCH_CONTENT_TYPE,
    HEADER_ACKED_THROUGH,
    MSGPACK_CONTENT_TYPE,
    BatchAck,
    IncomingChangeSet,
    StoreWatermark,
    SyncRefusal,
)
from sync.outbox import FrozenBatch

if TYPE_CHECKING:  # httpx (about 4 MB with its CLI's click and rich) is imported by a client
    import httpx

_REFUSAL_REASONS = frozenset(
    ("gap", "chain_mismatch", "relay_behind", "store_mismatch", "malformed", "bad_fingerprint")
)


@dataclass(frozen=True, slots=True)
class Acked:
    ack: BatchAck
    status: int


@dataclass(frozen=True, slots=True)
class Refused:
    refusal: SyncRefusal
    status: int


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Not a verdict on the batch: transport error, 5xx, 409 in flight, 429, a replay."""

    error: str
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """A verdict we cannot act on by resending (401, 403, 404, an unreadable answer)."""

    error: str
    status: int


Outcome = Acked | Refused | RetryLater | Failed


class RelayRequestError(Exception):
    """A watermark or changes request that did not get a usable answer."""

    def __init__(self, message: str, retry_after_s: float | None = None,
                 alarm: bool = False) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.alarm = alarm  # credentials refused: an operator must act


@functools.lru_cache(maxsize=8)
def ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """One verifying context per CA file per process (building one reads the whole trust
    store, which costs more than a sync round)."""
    ctx = ssl.create_default_context(cafile=ca_file or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _problem(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(resp.content)
    except msgspec.DecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _replayed(status: int, body: dict[str, Any]) -> bool:
    """The relay had already received this very signed request: a copy of ours (a duplicating
    middlebox, a proxy's retry) got there first. Not a credential problem: sign anew, retry."""
    return status == 401 and str(body.get("type", "")).endswith("/signature-replayed")


def _refusal(body: dict[str, Any]) -> SyncRefusal | None:
    """The refusal a problem body carries: top level, or under "refusal"."""
    for candidate in (body, body.get("refusal")):
        if isinstance(candidate, dict) and candidate.get("reason") in _REFUSAL_REASONS:
            expected = candidate.get("expected_seq")
            return SyncRefusal(
                reason=candidate["reason"],
                detail=str(candidate.get("detail") or body.get("detail") or ""),
                expected_seq=expected if isinstance(expected, int) else None,
            )
    return None


class RelayClient:
    def __init__(self, relay_url: str, credential: signing.StoreCredential, clock=None, *,
                 timeout_s: float = 30.0, ca_file: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.credential = credential
        # Signatures carry wall-clock time (the relay checks skew against its own clock), even
        # when the store's business clock is a test's manual clock.
        self._clock = clock or SystemClock()
        base = relay_url.rstrip("/")
        self._prefix = urlsplit(base).path  # signed paths are what the relay's router sees
        verify = ssl_context(ca_file or None)
        import httpx  # a store that syncs needs it; one that does not never loads it

        self._http = httpx.AsyncClient(
            base_url=base, timeout=timeout_s, verify=verify, transport=transport,
            headers={"User-Agent": "novapos-edge-sync/2"},
        )
        self._store_path = f"/v1/stores/{credential.store_id}"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path_qs: str, body: bytes = b"",
                       headers: dict[str, str] | None = None) -> httpx.Response:
        # Every signed header is sent explicitly (httpx would add its own Accept otherwise).
        sent = {"Accept": "application/json", **(headers or {})}
        signed = signing.sign(self.credential, method, self._prefix + path_qs, body,
                              self._clock.now_ms(), sent)
        return await self._http.request(method, path_qs, content=body,
                                        headers={**sent, **signed})

    async def send_batch(self, frozen: FrozenBatch, acked_through: int) -> Outcome:
        import httpx

        try:
            resp = await self._request(
                "POST", f"{self._store_path}/batches", frozen.body,
                {"Content-Type": BATCH_CONTENT_TYPE, "Idempotency-Key": frozen.batch_id,
                 HEADER_ACKED_THROUGH: str(acked_through)},
            )
        except httpx.HTTPError as exc:
            return RetryLater(f"{type(exc).__name__}: {exc}")
        status = resp.status_code
        if 200 <= status < 300:
            try:
                return Acked(_decode(resp, BatchAck), status)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                return RetryLater(f"unreadable ack ({status}): {exc}")
        body = _problem(resp)
        refusal = _refusal(body)
        if refusal is not None:
            return Refused(refusal, status)
        detail = str(body.get("detail") or resp.text[:300])
        if status in (408, 409, 425, 429) or status >= 500 or _replayed(status, body):
            return RetryLater(f"HTTP {status}: {detail}", _retry_after(resp))
        return Failed(f"HTTP {status}: {detail}", status)

    async def watermark(self, head_seq: int, applied_change_id: int) -> StoreWatermark:
        path = (f"{self._store_path}/watermark?head_seq={head_seq}"
                f"&applied_change_id={applied_change_id}")
        return await self._get(path, StoreWatermark)

    async def changes(self, after: int, limit: int) -> IncomingChangeSet:
        """A change page, read tolerantly: a kind this release does not know decodes (to be
        held), every other field is checked as strictly as ever."""
        return await self._get(f"{self._store_path}/changes?after={after}&limit={limit}",
                               IncomingChangeSet, accept=MSGPACK_CONTENT_TYPE)

    async def _get(self, path: str, typ: type, accept: str = "application/json") -> Any:
        import httpx

        try:
            resp = await self._request("GET", path, headers={"Accept": accept})
        except httpx.HTTPError as exc:
            raise RelayRequestError(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code != 200:
            body = _problem(resp)
            detail = str(body.get("detail") or resp.text[:300])
            alarm = resp.status_code in (401, 403) and not _replayed(resp.status_code, body)
            raise RelayRequestError(f"HTTP {resp.status_code} for GET {path}: {detail}",
                                    _retry_after(resp), alarm=alarm)
        try:
            return _decode(resp, typ)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise RelayRequestError(f"unreadable answer to GET {path}: {exc}") from exc


def _decode(resp: httpx.Response, typ: type) -> Any:
    if resp.headers.get("content-type", "").startswith(MSGPACK_CONTENT_TYPE):
        return msgspec.msgpack.decode(resp.content, type=typ)
    return msgspec.json.decode(resp.content, type=typ)
