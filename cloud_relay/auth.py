"""Who is calling: a store (HMAC-signed request, `core.signing`) or HQ (tenant bearer token).

A store credential binds tenant and store: it may only touch `/v1/stores/<its store>/…`, and
each signed request is accepted once (the replay cache, `storage.replay`).
Store secrets are kept in the relay database because verifying an HMAC needs the secret
itself (see docs/relay.md, "Credentials"); HQ tokens are kept only as SHA-256 hashes.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from cloud_relay.errors import refuse
from cloud_relay.storage.base import Storage
from core import signing
from core.errors import Forbidden, Unauthorized

HQ_TOKEN_PREFIX = "hq_"


@dataclass(frozen=True, slots=True)
class StorePrincipal:
    tenant_id: str
    store_id: str
    key_id: str


class SignatureReplayed(Unauthorized):
    slug, title = "signature-replayed", "This signed request was already received"


def verify_store(storage: Storage, *, headers: Mapping[str, str], method: str, path_qs: str,
                 body: bytes, now_ms: int, path_store_id: str) -> StorePrincipal:
    """The store a signed request comes from (`core.signing`, scheme 2), accepting each
    signature once (`storage.first_use`, the replay cache shared by every relay process of
    the database). Raises `Unauthorized` (401) for anything a stranger could send."""
    key_id = headers.get("x-novapos-key-id")
    if not key_id or not headers.get("x-novapos-timestamp") or \
            not headers.get("x-novapos-signature"):
        raise Unauthorized(f"store requests need {signing.HEADER_KEY_ID}, "
                           f"{signing.HEADER_TIMESTAMP}, {signing.HEADER_NONCE} and "
                           f"{signing.HEADER_SIGNATURE} headers")
    cred = storage.credential(key_id)
    if cred is None:
        raise Unauthorized(f"unknown key id {key_id[:64]!r}")
    if cred.revoked:
        raise Unauthorized(f"the credential of store {cred.store_id} was revoked")
    problem = signing.verify(cred.secret, key_id, method, path_qs, body, headers, now_ms)
    if problem is not None:
        raise Unauthorized(f"bad signature: {problem}")
    if cred.store_id != path_store_id:
        raise refuse("store_mismatch", f"credential {key_id} belongs to store {cred.store_id}, "
                     f"not {path_store_id}")
    given = signing.signature_bytes(headers["x-novapos-signature"].strip().lower())
    assert given is not None  # verify accepted it
    if not storage.first_use(given, signing.expires_at_ms(headers["x-novapos-timestamp"]),
                             now_ms):
        raise SignatureReplayed("this signature was already used: every request is signed "
                                "anew (timestamp and nonce), so a repeated one is a replay")
    return StorePrincipal(cred.tenant_id, cred.store_id, cred.key_id)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_hq_token() -> tuple[str, str]:
    """(token_id, token). The token is shown once; the relay keeps its hash."""
    token_id = f"{HQ_TOKEN_PREFIX}{secrets.token_hex(6)}"
    return token_id, f"{token_id}.{secrets.token_urlsafe(32)}"


def verify_hq(storage: Storage, authorization: str | None) -> str:
    """The tenant an HQ bearer token speaks for."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("HQ routes need 'Authorization: Bearer <hq token>' "
                           "(novapos-relay hq-token create)")
    token = authorization[7:].strip()
    tenant = storage.hq_tenant(hash_token(token)) if token else None
    if tenant is None:
        raise Unauthorized("unknown or revoked HQ token")
    return tenant


def require_tenant(principal_tenant: str, wanted: str | None) -> str:
    if wanted is not None and wanted != principal_tenant:
        raise Forbidden(f"this token is scoped to tenant {principal_tenant}")
    return principal_tenant
