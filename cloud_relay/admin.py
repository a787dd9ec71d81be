"""Operator actions with a Python API the CLI and the tests share: enrolling stores and
creating HQ tokens. Identifiers are checked here so the CLI and any future admin route refuse
the same inputs."""

from __future__ import annotations

import re

from cloud_relay import auth, loyalty
from cloud_relay.storage.base import Storage
from schemas.relay import HqToken
from core.errors import BadRequest
from core.signing import StoreCredential, new_credential

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_id(kind: str, value: str) -> str:
    if not _ID.match(value):
        raise BadRequest(f"{kind} must be 1-64 letters, digits, '.', '_' or '-' (starting "
                         f"with a letter or digit), not {value[:80]!r}")
    return value


def enroll_store(storage: Storage, tenant_id: str, store_id: str, now_ms: int) -> StoreCredential:
    cred = new_credential(check_id("tenant", tenant_id), check_id("store", store_id))
    storage.enroll_store(cred.tenant_id, cred.store_id, cred.key_id, cred.secret, now_ms)
    # The tenant's loyalty key, if it has one, goes down sealed for this credential.
    loyalty.deliver_key(storage, cred.tenant_id, now_ms, cred.store_id)
    return cred


def create_hq_token(storage: Storage, tenant_id: str, now_ms: int) -> HqToken:
    token_id, token = auth.new_hq_token()
    storage.create_hq_token(check_id("tenant", tenant_id), token_id, auth.hash_token(token),
                            now_ms)
    return HqToken(tenant_id=tenant_id, token_id=token_id, token=token)
