"""Approval commands, run inside the writer: `require` (the one entry point other domains
call), recording a request, deciding it by PIN or by a signed device statement, and the
approvers' enrollment. Pure rule evaluation is `edge.approvals.rules`.

`require(tx, who, policy, facts, subject, token)`, called by a domain's writer command
*immediately before it appends the action's events*:
- no rule applies -> None (nothing recorded);
- the caller's role carries the approval (a manager token) -> `approval.overridden`;
- a good token for exactly this request -> `approval.used` (the token is spent);
- a bad token -> its own refusal (invalid, used, expired, mismatch, key revoked, denied);
- no token -> `ApprovalRequired` (403) naming a pending approval, recorded by the route's
  `ApprovalService.asking` once the refused command rolled back. A store with no approver
  enrolled has nobody to ask: it answers `ManagerRequired` (403 manager-approval-required)
  and records nothing, as before approvals existed.
The approval event names `action_seq`, the seq of the next event: the action's first one.
"""

from __future__ import annotations

from dataclasses import dataclass

import apsw

from core.errors import InvalidInput, NotFound
from core.ids import uuid7
from edge.approvals import statement, tokens
from edge.approvals.errors import (
    ApprovalClosed,
    ApprovalRequired,
    ApprovalUndecided,
    ApprovalWasDenied,
    DeviceUnknown,
    KeyRevoked,
    PinLocked,
    PinWrong,
    SignatureInvalid,
    TokenExpired,
    TokenInvalid,
    TokenMismatch,
    TokenUsed,
    UnknownApproval,
)
from edge.approvals.rules import ApprovalPolicy, Facts, Rule, evaluate, fingerprint, satisfied_by
from edge.errors import ManagerRequired
from edge.lanes import Principal
from edge.store.writer import Tx
from schemas import approvals as ap


@dataclass(frozen=True, slots=True)
class Approval:
    """What let a request through: an approval spent (`approval_id`) or a manager's own token
    (`approval_id` None)."""

    rule: Rule
    fingerprint: str
    approver_id: str
    approval_id: str | None


@dataclass(frozen=True, slots=True)
class Row:
    approval_id: str
    action: str
    fingerprint: str
    subject: str
    rule: str
    lane_id: str
    state: str
    expires_at_ms: int
    token_expires_at_ms: int | None
    via: str | None
    device_id: str | None
    approver_id: str | None


_ROW = ("approval_id, action, fingerprint, subject, rule, lane_id, state, expires_at_ms, "
        "token_expires_at_ms, via, device_id, approver_id")


def row(conn: apsw.Connection, approval_id: str) -> Row | None:
    found = conn.execute(f"SELECT {_ROW} FROM approvals WHERE approval_id = ?",
                         (approval_id,)).fetchall()
    return Row(*found[0]) if found else None


def secret(conn: apsw.Connection) -> bytes:
    return conn.execute("SELECT key FROM approval_secret WHERE id = 1").fetchall()[0][0]


def has_approvers(conn: apsw.Connection) -> bool:
    return bool(conn.execute("SELECT 1 FROM approvers LIMIT 1").fetchall())


def _stream(approval_id: str) -> str:
    return f"approval:{approval_id}"


# --- the entry point -------------------------------------------------------------------------


def require(tx: Tx, who: Principal, policy: ApprovalPolicy, facts: Facts, subject: str,
            token: str | None, *, detail: str = "", reason: str = "") -> Approval | None:
    rule = evaluate(policy.rules, facts)
    if rule is None:
        return None
    fp = fingerprint(facts.action, subject, facts.amount_minor)
    what = detail or rule.describe()
    if satisfied_by(rule, who.role):
        tx.append(ap.ApprovalOverridden(
            action=facts.action, fingerprint=fp, rule=rule.id, approver_id=who.lane_id,
            token_id=who.token_id, action_seq=tx.head_seq + 2, amount_minor=facts.amount_minor,
            reason=reason), stream=_stream("override"), lane_id=who.lane_id)
        return Approval(rule, fp, who.lane_id, None)
    if token is not None:
        found = spend(tx, who, token, fp)
        return Approval(rule, fp, found.approver_id or "", found.approval_id)
    if not has_approvers(tx.conn):
        raise ManagerRequired(f"{what}; a manager token must make it (no approver is enrolled "
                              "in this store to approve it at the lane)")
    raise asked(tx, who, policy, facts, rule, subject, fp, what)


def asked(tx: Tx, who: Principal, policy: ApprovalPolicy, facts: Facts, rule: Rule,
          subject: str, fp: str, what: str) -> ApprovalRequired:
    """The refusal naming a pending approval: the lane's open request for this very action if
    it has one, else a new one (recorded by `record_request`)."""
    open_ = tx.conn.execute(
        "SELECT approval_id, expires_at_ms FROM approvals WHERE lane_id = ? AND fingerprint = ? "
        "AND state = 'pending' AND expires_at_ms > ? ORDER BY requested_at_ms DESC LIMIT 1",
        (who.lane_id, fp, tx.now_ms)).fetchall()
    if open_:
        approval_id, expires_at_ms = open_[0]
        request = None
    else:
        approval_id, expires_at_ms = uuid7(), tx.now_ms + policy.request_ttl_ms
        request = ap.ApprovalRequested(
            approval_id=approval_id, action=facts.action, fingerprint=fp, subject=subject,
            rule=rule.id, role="manager", lane_id=who.lane_id, requested_by=who.token_id,
            detail=what, expires_at_ms=expires_at_ms, amount_minor=facts.amount_minor,
            share_bp=facts.share_bp, lines=facts.lines)
    need = ap.ApprovalNeeded(
        approval_id=approval_id, action=facts.action, rule=rule.id, role=rule.role,
        subject=subject, fingerprint=fp, expires_at_ms=expires_at_ms,
        amount_minor=facts.amount_minor, share_bp=facts.share_bp, lines=facts.lines)
    return ApprovalRequired(
        f"{what}: approve request {approval_id} by a manager's PIN at the lane or from a "
        "manager's device, then send the same request again with the X-Approval-Token header",
        approval=need, request=request)


def record_request(tx: Tx, need: ApprovalRequired) -> None:
    """Append the pending approval a refused request asked for (once)."""
    body = need.request
    if body is None or row(tx.conn, body.approval_id) is not None:
        return
    tx.append(body, stream=_stream(body.approval_id), lane_id=body.lane_id)


def spend(tx: Tx, who: Principal, token: str, fp: str) -> Row:
    """Check a token against this request and spend it (`approval.used`), or refuse it."""
    parsed = tokens.approval_of(token)
    if parsed is None:
        raise TokenInvalid("the X-Approval-Token is malformed")
    approval_id, token_mac = parsed
    found = row(tx.conn, approval_id)
    if found is None:
        raise TokenInvalid(f"no approval {approval_id} in this store")
    if found.state == "denied":
        raise ApprovalWasDenied(f"approval {approval_id} was denied by {found.approver_id}")
    if found.state == "pending":
        raise ApprovalUndecided(f"approval {approval_id} is not decided yet")
    assert found.token_expires_at_ms is not None
    if not tokens.genuine(secret(tx.conn), token_mac, approval_id, found.fingerprint,
                          found.token_expires_at_ms):
        raise TokenInvalid("the X-Approval-Token does not verify")
    if found.state == "used":
        raise TokenUsed(f"approval {approval_id} was already used; ask for a new one")
    if tx.now_ms >= found.token_expires_at_ms:
        raise TokenExpired(f"approval {approval_id} expired at {found.token_expires_at_ms}; "
                           "ask for a new one")
    if found.lane_id != who.lane_id:
        raise TokenMismatch(f"approval {approval_id} was asked by lane {found.lane_id}")
    if found.fingerprint != fp:
        raise TokenMismatch(f"approval {approval_id} approves {found.fingerprint}, not {fp}")
    if found.via == "device" and _revoked(tx.conn, found.device_id):
        raise KeyRevoked(f"the key of device {found.device_id} that approved {approval_id} "
                         "was revoked; ask for a new approval")
    tx.append(ap.ApprovalUsed(
        approval_id=approval_id, action=found.action, fingerprint=fp, rule=found.rule,
        approver_id=found.approver_id or "", action_seq=tx.head_seq + 2),
        stream=_stream(approval_id), lane_id=who.lane_id)
    return found


def _revoked(conn: apsw.Connection, device_id: str | None) -> bool:
    rows = conn.execute("SELECT revoked_at_ms FROM approver_devices WHERE device_id = ?",
                        (device_id,)).fetchall()
    return not rows or rows[0][0] is not None


# --- deciding --------------------------------------------------------------------------------


def _open(tx: Tx, approval_id: str) -> Row:
    found = row(tx.conn, approval_id)
    if found is None:
        raise UnknownApproval(f"no approval {approval_id}")
    if found.state != "pending":
        raise ApprovalClosed(f"approval {approval_id} is {found.state}")
    if tx.now_ms >= found.expires_at_ms:
        raise ApprovalClosed(f"approval {approval_id} expired unanswered; the lane asks again")
    return found


def pin_hash(conn: apsw.Connection, approver_id: str) -> tuple[str, int | None] | None:
    rows = conn.execute("SELECT pin_hash, locked_until_ms FROM approvers WHERE approver_id = ?",
                        (approver_id,)).fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


def locked_out(locked_until_ms: int | None, now_ms: int) -> PinLocked | None:
    if locked_until_ms is None or now_ms >= locked_until_ms:
        return None
    wait_s = max(1, -(-(locked_until_ms - now_ms) // 1000))
    error = PinLocked(f"too many wrong PINs; this approver can try again in {wait_s} s")
    error.retry_after_s = wait_s
    return error


def decide_by_pin(tx: Tx, who: Principal, policy: ApprovalPolicy, approval_id: str,
                  req: ap.ApproveByPin, pin_ok: bool) -> ap.ApprovalGranted | PinWrong | PinLocked:
    """Record a PIN attempt whose hash was checked outside the writer (`pin_ok`): a grant, or
    a refused attempt (counted; the `pin_max_failures`-th in a row locks the approver out)."""
    found = _open(tx, approval_id)
    if found.lane_id != who.lane_id:
        raise ApprovalClosed(f"approval {approval_id} was asked at lane {found.lane_id}: the "
                             "PIN is entered there")
    rows = tx.conn.execute("SELECT failures, locked_until_ms FROM approvers WHERE approver_id=?",
                           (req.approver_id,)).fetchall()
    if not rows:
        return PinWrong("wrong approver or PIN")
    failures, locked_until = rows[0]
    locked = locked_out(locked_until, tx.now_ms)
    if locked is not None:
        return locked
    if not pin_ok:
        failures += 1
        until = tx.now_ms + policy.pin_lockout_ms if failures >= policy.pin_max_failures else None
        tx.conn.execute("UPDATE approvers SET failures = ?, locked_until_ms = ? "
                        "WHERE approver_id = ?", (0 if until else failures, until,
                                                  req.approver_id))
        tx.append(ap.ApprovalPinRefused(approval_id=approval_id, approver_id=req.approver_id,
                                        lane_id=who.lane_id, failures=failures,
                                        locked_until_ms=until),
                  stream=_stream(approval_id), lane_id=who.lane_id)
        if until is not None:
            return locked_out(until, tx.now_ms) or PinLocked("locked out")
        left = policy.pin_max_failures - failures
        return PinWrong(f"wrong approver or PIN; {left} more wrong PIN(s) lock this approver out")
    tx.conn.execute("UPDATE approvers SET failures = 0, locked_until_ms = NULL "
                    "WHERE approver_id = ?", (req.approver_id,))
    body = ap.ApprovalGranted(approval_id=approval_id, approver_id=req.approver_id, via="pin",
                              token_expires_at_ms=tx.now_ms + policy.token_ttl_ms,
                              reason=req.reason)
    tx.append(body, stream=_stream(approval_id), lane_id=who.lane_id)
    return body


def decide_remotely(tx: Tx, who: Principal, policy: ApprovalPolicy, approval_id: str,
                    req: ap.RemoteDecision) -> ap.ApprovalGranted | ap.ApprovalDenied:
    """A decision signed on an enrolled device, verified offline with its public key."""
    found = _open(tx, approval_id)
    device = tx.conn.execute(
        "SELECT approver_id, public_key, revoked_at_ms FROM approver_devices WHERE device_id=?",
        (req.device_id,)).fetchall()
    if not device or device[0][0] != req.approver_id:
        raise DeviceUnknown(f"device {req.device_id} is not enrolled for {req.approver_id}")
    _, public_key, revoked_at = device[0]
    if revoked_at is not None:
        raise KeyRevoked(f"the key of device {req.device_id} was revoked")
    if abs(tx.now_ms - req.signed_at_ms) > policy.signature_skew_ms:
        raise SignatureInvalid(f"the statement was signed at {req.signed_at_ms}, more than "
                               f"{policy.signature_skew_ms // 1000} s from the store's clock")
    message = statement.canonical(
        tenant_id=tx.identity.tenant_id, store_id=tx.identity.store_id, approval_id=approval_id,
        decision=req.decision, fingerprint=found.fingerprint, approver_id=req.approver_id,
        device_id=req.device_id, signed_at_ms=req.signed_at_ms, reason=req.reason)
    if not statement.verify(public_key, message, req.signature):
        raise SignatureInvalid("the signature does not verify with the enrolled key of device "
                               f"{req.device_id}")
    body: ap.ApprovalGranted | ap.ApprovalDenied
    if req.decision == "approve":
        body = ap.ApprovalGranted(approval_id=approval_id, approver_id=req.approver_id,
                                  via="device", device_id=req.device_id,
                                  token_expires_at_ms=tx.now_ms + policy.token_ttl_ms,
                                  reason=req.reason)
    else:
        body = ap.ApprovalDenied(approval_id=approval_id, approver_id=req.approver_id,
                                 via="device", device_id=req.device_id, reason=req.reason)
    tx.append(body, stream=_stream(approval_id), lane_id=who.lane_id)
    return body


# --- approvers (kept outside the log: PIN hashes are never synced) ---------------------------


def enroll_approver(conn: apsw.Connection, approver_id: str, name: str, pin_hashed: str,
                    now_ms: int) -> None:
    """Add an approver, or give one a new PIN (which also lifts a lockout)."""
    conn.execute(
        "INSERT INTO approvers(approver_id, name, pin_hash, failures, locked_until_ms, "
        "created_at_ms) VALUES (?,?,?,0,NULL,?) ON CONFLICT(approver_id) DO UPDATE SET "
        "name=excluded.name, pin_hash=excluded.pin_hash, failures=0, locked_until_ms=NULL",
        (approver_id, name, pin_hashed, now_ms))


def enroll_device(conn: apsw.Connection, approver_id: str, req: ap.EnrollDevice,
                  now_ms: int) -> None:
    if pin_hash(conn, approver_id) is None:
        raise NotFound(f"no approver {approver_id}")
    key = statement.public_key(req.public_key)
    if key is None:
        raise InvalidInput("public_key must be a raw 32-byte Ed25519 public key in base64",
                           field="public_key")
    if conn.execute("SELECT 1 FROM approver_devices WHERE device_id = ?",
                    (req.device_id,)).fetchall():
        raise InvalidInput(f"device {req.device_id} is already enrolled (a revoked device id "
                           "is never reused)", field="device_id")
    conn.execute("INSERT INTO approver_devices(device_id, approver_id, public_key, "
                 "enrolled_at_ms) VALUES (?,?,?,?)", (req.device_id, approver_id, key, now_ms))


def revoke_device(conn: apsw.Connection, device_id: str, now_ms: int) -> None:
    conn.execute("UPDATE approver_devices SET revoked_at_ms = ? WHERE device_id = ? AND "
                 "revoked_at_ms IS NULL", (now_ms, device_id))
    if not conn.changes() and not conn.execute(
            "SELECT 1 FROM approver_devices WHERE device_id = ?", (device_id,)).fetchall():
        raise NotFound(f"no device {device_id}")
