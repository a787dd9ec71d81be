"""Approval tokens: `apv1.<approval id>.<mac>`, where the MAC (HMAC-SHA256 under a random key
made at the store's first start, kept in its database) covers the approval, its fingerprint
and its expiry. Nothing secret is stored per token: the daemon recomputes the MAC to check a
token offline and to show it again to the lane that asked. Whether it is still good (granted,
unspent, unexpired, for this request, its device not revoked) is the approval's read model's
business (commands.require)."""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "apv1"


def mac(secret: bytes, approval_id: str, fingerprint: str, expires_at_ms: int) -> str:
    msg = f"{approval_id}\n{fingerprint}\n{expires_at_ms}".encode()
    digest = hmac.new(secret, msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def make(secret: bytes, approval_id: str, fingerprint: str, expires_at_ms: int) -> str:
    return f"{PREFIX}.{approval_id}.{mac(secret, approval_id, fingerprint, expires_at_ms)}"


def approval_of(token: str) -> tuple[str, str] | None:
    """(approval id, mac) of a well-formed token, else None."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def genuine(secret: bytes, token_mac: str, approval_id: str, fingerprint: str,
            expires_at_ms: int) -> bool:
    return hmac.compare_digest(token_mac, mac(secret, approval_id, fingerprint, expires_at_ms))
