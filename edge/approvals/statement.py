"""The statement a manager's device signs to decide an approval remotely, and its check.

The statement is canonical UTF-8 text, one `key=value` per line in this order, `\n` line ends,
no trailing newline:

    novapos-approval/1
    tenant=<tenant id>
    store=<store id>
    approval=<approval id>
    decision=approve|deny
    fingerprint=<action|subject|amount>
    approver=<approver id>
    device=<device id>
    signed_at_ms=<epoch ms>
    reason=<reason, newlines replaced by spaces>

signed with the device's Ed25519 private key; the daemon verifies it offline with the public
key enrolled for that device (`cryptography`), so no network is needed to trust it.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

VERSION = "novapos-approval/1"
PUBLIC_KEY_BYTES = 32


def canonical(*, tenant_id: str, store_id: str, approval_id: str, decision: str,
              fingerprint: str, approver_id: str, device_id: str, signed_at_ms: int,
              reason: str) -> bytes:
    flat = reason.replace("\r", " ").replace("\n", " ")
    return "\n".join((
        VERSION, f"tenant={tenant_id}", f"store={store_id}", f"approval={approval_id}",
        f"decision={decision}", f"fingerprint={fingerprint}", f"approver={approver_id}",
        f"device={device_id}", f"signed_at_ms={signed_at_ms}", f"reason={flat}",
    )).encode()


def decode_b64(text: str) -> bytes | None:
    """Standard or URL-safe base64, padded or not; None when it is neither."""
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None


def public_key(text: str) -> bytes | None:
    raw = decode_b64(text)
    if raw is None or len(raw) != PUBLIC_KEY_BYTES:
        return None
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None
    return raw


def verify(public_raw: bytes, message: bytes, signature_b64: str) -> bool:
    signature = decode_b64(signature_b64)
    if signature is None:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
