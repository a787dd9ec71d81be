"""HMAC request signing between a store and the relay.

Each store holds a credential issued at enrollment: a `key_id` and a 32-byte secret. Every
request carries:

    X-NovaPOS-Key-Id:     the key id (names tenant and store at the relay)
    X-NovaPOS-Timestamp:  epoch milliseconds when signed
    X-NovaPOS-Signature:  hex HMAC-SHA256(secret, METHOD \\n PATH?QUERY \\n TIMESTAMP \\n SHA256(body))

The relay refuses a missing or wrong signature (401) and a timestamp outside the skew window
(401, so a captured request cannot be replayed later; within the window a replay is harmless
because every write is idempotent). The credential binds the store: a store can only write its
own ledger.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import msgspec

HEADER_KEY_ID = "X-NovaPOS-Key-Id"
HEADER_TIMESTAMP = "X-NovaPOS-Timestamp"
HEADER_SIGNATURE = "X-NovaPOS-Signature"
MAX_SKEW_MS = 300_000


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


def signature(secret: bytes, method: str, path_qs: str, timestamp_ms: int, body: bytes) -> str:
    message = b"\n".join(
        (
            method.upper().encode(),
            path_qs.encode(),
            str(timestamp_ms).encode(),
            hashlib.sha256(body).hexdigest().encode(),
        )
    )
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign(cred: StoreCredential, method: str, path_qs: str, body: bytes,
         now_ms: int) -> dict[str, str]:
    return {
        HEADER_KEY_ID: cred.key_id,
        HEADER_TIMESTAMP: str(now_ms),
        HEADER_SIGNATURE: signature(cred.secret, method, path_qs, now_ms, body),
    }


def verify(secret: bytes, method: str, path_qs: str, body: bytes, timestamp: str,
           given: str, now_ms: int, max_skew_ms: int = MAX_SKEW_MS) -> str | None:
    """None when valid, else the reason it is not (for the 401 problem detail)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return "timestamp is not an integer"
    if abs(now_ms - ts) > max_skew_ms:
        return f"timestamp is {abs(now_ms - ts)} ms away from the relay's clock"
    expected = signature(secret, method, path_qs, ts, body)
    if not hmac.compare_digest(expected, given.lower()):
        return "signature does not match"
    return None
