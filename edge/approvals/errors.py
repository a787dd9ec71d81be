"""The approvals domain's refusals, each its own problem type (docs/approvals.md)."""

from __future__ import annotations

from typing import Any

from core.errors import Conflict, Forbidden, NotFound
from schemas.approvals import ApprovalNeeded, ApprovalRequested


class ApprovalRequired(Forbidden):
    """The request breaks a rule: a pending approval is recorded (`request`, appended by
    `ApprovalService.asking` after the refused command rolled back) and named in the problem's
    `approval` member."""

    slug, title = "approval-required", "A manager must approve this request"

    def __init__(self, detail: str, *, approval: ApprovalNeeded,
                 request: ApprovalRequested | None, **extra: Any) -> None:
        super().__init__(detail, approval=approval, **extra)
        self.approval = approval
        self.request = request


class TokenInvalid(Forbidden):
    slug, title = "approval-token-invalid", "The approval token is not one this store issued"


class TokenUsed(Forbidden):
    slug, title = "approval-token-used", "The approval token was already used"


class TokenExpired(Forbidden):
    slug, title = "approval-token-expired", "The approval token has expired"


class TokenMismatch(Forbidden):
    slug, title = "approval-token-mismatch", "The approval token approves another request"


class KeyRevoked(Forbidden):
    slug, title = "approval-key-revoked", "The approving device's key is revoked"


class ApprovalWasDenied(Forbidden):
    slug, title = "approval-denied", "A manager denied this request"


class ApprovalUndecided(Conflict):
    slug, title = "approval-pending", "The approval has not been decided yet"
    retry_after_s = 2


class ApprovalClosed(Conflict):
    slug, title = "approval-closed", "The approval is no longer pending"


class PinWrong(Forbidden):
    slug, title = "approval-pin-wrong", "Wrong approver or PIN"


class PinLocked(Forbidden):
    slug, title = "approval-pin-locked", "Too many wrong PINs: the approver is locked out"


class SignatureInvalid(Forbidden):
    slug, title = "approval-signature-invalid", "The approval statement's signature does not verify"


class DeviceUnknown(Forbidden):
    slug, title = "approval-device-unknown", "No such device is enrolled for this approver"


class UnknownApproval(NotFound):
    slug, title = "approval-not-found", "No such approval"
