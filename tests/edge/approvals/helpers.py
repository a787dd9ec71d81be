"""Approvers, devices and signed statements for the approvals tests (API and acceptance)."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edge.approvals import statement
from tests.conftest import new_key

PIN = "2468"


def admin(url: str, data_dir: Path) -> httpx.Client:
    token = (data_dir / "admin-token").read_text().strip()
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def enroll(client: httpx.Client, approver_id: str = "anna", pin: str = PIN) -> None:
    r = client.post("/v1/admin/approvers", json={"approver_id": approver_id, "name": "Anna",
                                                 "pin": pin})
    assert r.status_code == 200, r.text


def enroll_device(client: httpx.Client, approver_id: str, device_id: str) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    r = client.post(f"/v1/admin/approvers/{approver_id}/devices",
                    json={"device_id": device_id, "public_key": base64.b64encode(raw).decode()},
                    headers={"Idempotency-Key": new_key()})
    assert r.status_code == 201, r.text
    return key


def signed(key: Ed25519PrivateKey, *, approval: dict, decision: str, approver_id: str,
           device_id: str, signed_at_ms: int, reason: str = "", tenant_id: str = "demo-tenant",
           store_id: str = "store-001") -> dict:
    """The body a manager's device sends: the canonical statement signed with its key."""
    message = statement.canonical(
        tenant_id=tenant_id, store_id=store_id, approval_id=approval["approval_id"],
        decision=decision, fingerprint=approval["fingerprint"], approver_id=approver_id,
        device_id=device_id, signed_at_ms=signed_at_ms, reason=reason)
    return {"decision": decision, "approver_id": approver_id, "device_id": device_id,
            "signed_at_ms": signed_at_ms, "reason": reason,
            "signature": base64.b64encode(key.sign(message)).decode()}
