"""HMAC request signing between a store and the relay (signature scheme 2).

Each store holds a credential issued at enrollment: a `key_id` and a 32-byte secret. Every
request carries:

    X-NovaPOS-Key-Id:     the key id (names tenant and store at the relay)
    X-NovaPOS-Timestamp:  epoch milliseconds when signed
    X-NovaPOS-Nonce:      16 random bytes as 32 hex digits, new for every request
    X-NovaPOS-Signature:  "v2=" + hex HMAC-SHA256(secret, canonical request)

The canonical request is these lines joined by "\\n" (UTF-8, no trailing newline):

    NOVAPOS-HMAC-SHA256-2
    METHOD                      upper case
    PATH?QUERY                  exactly as sent (the raw path and query string)
    TIMESTAMP                   the X-NovaPOS-Timestamp value
    KEY_ID                      the X-NovaPOS-Key-Id value
    name:value                  one line per name in SIGNED_HEADERS, in that order: the
                                lower-case name, ":", the header's value with surrounding
                                blanks removed ("" when the header is absent)
    SHA256(body)                lower-case hex

`SIGNED_HEADERS` are every header that changes what the relay does or answers: the batch's
Idempotency-Key and `X-NovaPOS-Acked-Through` (which decide gap vs. relay_behind), the body's
Content-Type, the Accept that picks JSON or msgpack, and the nonce. A request whose signed
headers were altered in transit no longer verifies.

The relay refuses (401) a missing or wrong signature, a signature of another scheme, a
timestamp more than `MAX_SKEW_MS` from its clock, and a signature it has already seen while
that signature's timestamp is inside the window (its replay cache, `cloud_relay.storage.
replay`): a captured request cannot be sent again, altered or not. The nonce makes two
legitimate requests with the same content in the same millisecond differ. The credential
binds the store: a store can only write its own ledger.

Scheme 1 (no nonce, no headers signed, a bare hex signature) is refused with a detail that
names the upgrade: stores and relay upgrade together.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping

import msgspec

HEADER_KEY_ID = "X-NovaPOS-Key-Id"
HEADER_TIMESTAMP = "X-NovaPOS-Timestamp"
HEADER_NONCE = "X-NovaPOS-Nonce"
HEADER_SIGNATURE = "X-NovaPOS-Signature"
SCHEME = "NOVAPOS-HMAC-SHA256-2"
SIGNATURE_PREFIX = "v2="
# Lower-case, in canonical order. Appending a header here is a new scheme (SCHEME, prefix).
SIGNED_HEADERS = ("content-type", "accept", "idempotency-key", "x-novapos-acked-through",
                  "x-novapos-nonce")
MAX_SKEW_MS = 300_000
NONCE_HEX_CHARS = 32


class StoreCredential(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tenant_id: str
    store_id: str
    key_id: str
    secret_b64: str

    @property
    def secret(self) -> bytes:
        return base64.urlsafe_b64decode(self.secret_b64)


def new_credential(tenant_id: str, store_id: str) -> StoreCredential:
    return StoreCredential(
        tenant_id=tenant_id,
        store_id=store_id,
        key_id=f"sk_{secrets.token_hex(8)}",
        secret_b64=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    )


def canonical(method: str, path_qs: str, timestamp: str, key_id: str,
              headers: Mapping[str, str], body: bytes) -> bytes:
    """The bytes a signature covers. `headers` is looked up by lower-case name."""
    lines = [SCHEME, method.upper(), path_qs, timestamp, key_id]
    lines += [f"{name}:{(headers.get(name) or '').strip()}" for name in SIGNED_HEADERS]
    lines.append(hashlib.sha256(body).hexdigest())
    return "\n".join(lines).encode()


def _mac(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign(cred: StoreCredential, method: str, path_qs: str, body: bytes, now_ms: int,
         headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """The authentication headers for a request that will also send `headers` (whose signed
    ones are covered; send them exactly as given)."""
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    nonce = secrets.token_hex(NONCE_HEX_CHARS // 2)
    lower["x-novapos-nonce"] = nonce
    timestamp = str(now_ms)
    message = canonical(method, path_qs, timestamp, cred.key_id, lower, body)
    return {
        HEADER_KEY_ID: cred.key_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: SIGNATURE_PREFIX + _mac(cred.secret, message),
    }


def signature_bytes(given: str) -> bytes | None:
    """The 32 signature bytes of a scheme-2 header value (the replay cache's key), or None
    when it is not one."""
    if not given.startswith(SIGNATURE_PREFIX) or len(given) != len(SIGNATURE_PREFIX) + 64:
        return None
    try:
        return bytes.fromhex(given[len(SIGNATURE_PREFIX):])
    except ValueError:
        return None


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def verify(secret: bytes, key_id: str, method: str, path_qs: str, body: bytes,
           headers: Mapping[str, str], now_ms: int,
           max_skew_ms: int = MAX_SKEW_MS) -> str | None:
    """None when the request's signature is valid, else why not (for the 401 detail).
    `headers` is looked up by lower-case name (the request's headers as received). Whether
    the signature was seen before is the caller's replay cache's question."""
    given = (headers.get("x-novapos-signature") or "").strip()
    if signature_bytes(given) is None:
        if len(given) == 64 and _is_hex(given):
            return ("signature scheme 1 is no longer accepted: this relay verifies scheme 2 "
                    "(signed headers, nonce); upgrade the store's novapos-edge")
        return f"{HEADER_SIGNATURE} must be '{SIGNATURE_PREFIX}' and 64 hex digits"
    nonce = headers.get("x-novapos-nonce") or ""
    if len(nonce) != NONCE_HEX_CHARS or not _is_hex(nonce):
        return f"{HEADER_NONCE} must be {NONCE_HEX_CHARS} hex digits"
    timestamp = headers.get("x-novapos-timestamp") or ""
    try:
        ts = int(timestamp)
    except ValueError:
        return "timestamp is not an integer"
    if abs(now_ms - ts) > max_skew_ms:
        return f"timestamp is {abs(now_ms - ts)} ms away from the relay's clock"
    expected = _mac(secret, canonical(method, path_qs, timestamp, key_id, headers, body))
    if not hmac.compare_digest(SIGNATURE_PREFIX + expected, given.lower()):
        return "signature does not match"
    return None


def expires_at_ms(timestamp: str) -> int:
    """When a verified signature's timestamp leaves the window: until then a replay of it
    would pass the skew check, so the replay cache must remember it."""
    return int(timestamp) + MAX_SKEW_MS
