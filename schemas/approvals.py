"""Manager approvals: the events of the audit trail and the wire shapes of the approvals API.

An approval is asked for when a lane's request breaks a rule (`approval.requested`), decided
by a manager at the lane by PIN or remotely from an enrolled device (`approval.granted`,
`approval.denied`), and spent once by the retried request (`approval.used`, naming the
action's event). A manager's own token approves implicitly (`approval.overridden`). Wrong
PINs are recorded too (`approval.pin_refused`): the lockout is part of the trail.
Times are UTC epoch milliseconds, money is integer minor units, shares are basis points.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from schemas.eventbase import EventBody

Action = Literal[
    "line_discount", "cart_discount", "price_override", "refund", "return",
    "receiptless_return", "return_outside_window", "cart_void", "no_sale", "cash_paid_out",
    "till_close_difference", "stock_count_variance", "stock_adjustment",
]
ACTIONS: tuple[str, ...] = Action.__args__  # type: ignore[attr-defined]
Via = Literal["pin", "device"]
Decision = Literal["approve", "deny"]
ApprovalState = Literal["pending", "approved", "denied", "used", "expired"]


# --- events ------------------------------------------------------------------------------


class ApprovalRequested(EventBody, frozen=True):
    TYPE: ClassVar[str] = "approval.requested"
    approval_id: str
    action: Action
    # What is approved: action, subject (cart:<id>[/line:<n>] or order:<id>) and amount.
    fingerprint: str
    subject: str
    rule: str
    role: Literal["manager"]
    lane_id: str
    requested_by: str  # the lane token id that asked
    detail: str
    expires_at_ms: int
    amount_minor: int | None = None
    share_bp: int | None = None
    lines: int | None = None


class ApprovalGranted(EventBody, frozen=True):
    TYPE: ClassVar[str] = "approval.granted"
    approval_id: str
    approver_id: str
    via: Via
    token_expires_at_ms: int
    device_id: str | None = None
    reason: str = ""


class ApprovalDenied(EventBody, frozen=True):
    TYPE: ClassVar[str] = "approval.denied"
    approval_id: str
    approver_id: str
    via: Via
    device_id: str | None = None
    reason: str = ""


class ApprovalUsed(EventBody, frozen=True):
    """The approval was spent: the approved request's first event is `action_seq` (the next
    event in the log, in the same commit)."""

    TYPE: ClassVar[str] = "approval.used"
    approval_id: str
    action: Action
    fingerprint: str
    rule: str
    approver_id: str
    action_seq: int


class ApprovalOverridden(EventBody, frozen=True):
    """A manager's own lane token made a request a rule reserves to managers."""

    TYPE: ClassVar[str] = "approval.overridden"
    action: Action
    fingerprint: str
    rule: str
    approver_id: str  # the manager lane
    token_id: str
    action_seq: int
    amount_minor: int | None = None
    reason: str = ""


class ApprovalPinRefused(EventBody, frozen=True):
    TYPE: ClassVar[str] = "approval.pin_refused"
    approval_id: str
    approver_id: str
    lane_id: str
    failures: int
    locked_until_ms: int | None = None


APPROVAL_EVENTS: tuple[type[EventBody], ...] = (
    ApprovalRequested, ApprovalGranted, ApprovalDenied, ApprovalUsed, ApprovalOverridden,
    ApprovalPinRefused,
)


# --- API ---------------------------------------------------------------------------------

ApproverId = Annotated[str, msgspec.Meta(min_length=1, max_length=64,
                                          pattern=r"^[A-Za-z0-9._:-]+$")]
Reason = Annotated[str, msgspec.Meta(max_length=200)]


class ApprovalNeeded(msgspec.Struct, frozen=True, omit_defaults=True):
    """In a 403 `approval-required` problem: exactly what needs approving."""

    approval_id: str
    action: Action
    rule: str
    role: str
    subject: str
    fingerprint: str
    expires_at_ms: int
    amount_minor: int | None = None
    share_bp: int | None = None
    lines: int | None = None


class ApproveByPin(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    approver_id: ApproverId
    pin: Annotated[str, msgspec.Meta(min_length=4, max_length=12, pattern=r"^[0-9]+$")]
    reason: Reason = ""


class RemoteDecision(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A decision signed on a manager's device: `signature` is the base64 Ed25519 signature of
    the canonical statement (docs/approvals.md) over these fields and the approval."""

    decision: Decision
    approver_id: ApproverId
    device_id: ApproverId
    signed_at_ms: Annotated[int, msgspec.Meta(ge=0)]
    signature: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    reason: Reason = ""


class ApprovalView(msgspec.Struct, frozen=True, omit_defaults=True):
    approval_id: str
    state: ApprovalState
    action: Action
    rule: str
    subject: str
    fingerprint: str
    lane_id: str
    requested_at_ms: int
    expires_at_ms: int
    detail: str = ""
    amount_minor: int | None = None
    share_bp: int | None = None
    lines: int | None = None
    approver_id: str | None = None
    via: Via | None = None
    reason: str | None = None
    token_expires_at_ms: int | None = None
    # Only to the lane that asked, while the approval is granted and unspent: send it back as
    # the X-Approval-Token header of the same request (same Idempotency-Key).
    token: str | None = None
    # The statement a remote device signs to decide (approve: this; deny: with decision=deny).
    statement: str | None = None


class ApprovalList(msgspec.Struct, frozen=True):
    approvals: list[ApprovalView]


class AuditEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    seq: int
    type: str
    recorded_at_ms: int
    actor: str
    lane_id: str | None
    action: str | None = None
    rule: str | None = None
    approval_id: str | None = None
    reason: str | None = None
    action_seq: int | None = None
    amount_minor: int | None = None


class AuditList(msgspec.Struct, frozen=True):
    entries: list[AuditEntry]


class EnrollApprover(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    approver_id: ApproverId
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    pin: Annotated[str, msgspec.Meta(min_length=4, max_length=12, pattern=r"^[0-9]+$")]


class EnrollDevice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    device_id: ApproverId
    # The raw 32-byte Ed25519 public key, base64 (standard or URL-safe).
    public_key: Annotated[str, msgspec.Meta(min_length=40, max_length=64)]


class ApproverView(msgspec.Struct, frozen=True):
    approver_id: str
    name: str
    failures: int
    locked_until_ms: int | None = None
    devices: list[str] = []
    revoked_devices: list[str] = []


class ApproverList(msgspec.Struct, frozen=True):
    approvers: list[ApproverView]


# --- HQ ----------------------------------------------------------------------------------


class HqApproverCount(msgspec.Struct, frozen=True):
    """One approver's decisions at one store (an override's approver is the manager lane)."""

    store_id: str
    approver_id: str
    approved: int = 0
    denied: int = 0
    used: int = 0
    overridden: int = 0
    pin_refused: int = 0


class HqStoreApprovals(msgspec.Struct, frozen=True):
    store_id: str
    requested: int = 0
    approved: int = 0
    denied: int = 0
    used: int = 0
    overridden: int = 0
    pin_refused: int = 0


class HqApprovals(msgspec.Struct, frozen=True):
    """`GET /v1/hq/approvals`: the synced audit trail counted per store and per approver."""

    tenant_id: str
    relay_epoch: str
    stores: list[HqStoreApprovals]
    approvers: list[HqApproverCount]
