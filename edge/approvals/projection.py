"""Approval read models: `approvals` (a request and its fate: pending, approved, denied,
used; "expired" is read against the clock, never stored) and `approval_audit` (every approval
event, by time and actor). Both depend on the events alone."""

from __future__ import annotations

from edge.store.projector import Registrations
from schemas import approvals as ap
from schemas.envelope import Event

PROJECTIONS = Registrations()
TABLES = {
    "approvals": "approval_id",
    "approval_audit": "seq",
}


def _audit(conn, stored: Event, actor: str, **cols) -> None:
    conn.execute(
        "INSERT INTO approval_audit(seq, type, recorded_at_ms, actor, lane_id, action, rule, "
        "approval_id, reason, action_seq, amount_minor) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (stored.seq, stored.type, stored.recorded_at_ms, actor, stored.lane_id,
         cols.get("action"), cols.get("rule"), cols.get("approval_id"), cols.get("reason"),
         cols.get("action_seq"), cols.get("amount_minor")))


@PROJECTIONS.on(ap.ApprovalRequested)
def _requested(conn, stored: Event, b: ap.ApprovalRequested) -> None:
    conn.execute(
        "INSERT INTO approvals(approval_id, action, fingerprint, subject, rule, role, lane_id, "
        "requested_by, detail, amount_minor, share_bp, lines, requested_at_ms, expires_at_ms, "
        "state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,'pending')",
        (b.approval_id, b.action, b.fingerprint, b.subject, b.rule, b.role, b.lane_id,
         b.requested_by, b.detail, b.amount_minor, b.share_bp, b.lines, stored.recorded_at_ms,
         b.expires_at_ms))
    _audit(conn, stored, b.lane_id, action=b.action, rule=b.rule, approval_id=b.approval_id,
           reason=b.detail, amount_minor=b.amount_minor)


def _context(conn, approval_id: str) -> tuple[str | None, str | None, int | None]:
    rows = conn.execute("SELECT action, rule, amount_minor FROM approvals WHERE approval_id=?",
                        (approval_id,)).fetchall()
    return rows[0] if rows else (None, None, None)


@PROJECTIONS.on(ap.ApprovalGranted)
def _granted(conn, stored: Event, b: ap.ApprovalGranted) -> None:
    conn.execute(
        "UPDATE approvals SET state='approved', approver_id=?, via=?, device_id=?, reason=?, "
        "decided_at_ms=?, token_expires_at_ms=? WHERE approval_id=?",
        (b.approver_id, b.via, b.device_id, b.reason, stored.recorded_at_ms,
         b.token_expires_at_ms, b.approval_id))
    action, rule, amount = _context(conn, b.approval_id)
    _audit(conn, stored, b.approver_id, action=action, rule=rule, approval_id=b.approval_id,
           reason=b.reason, amount_minor=amount)


@PROJECTIONS.on(ap.ApprovalDenied)
def _denied(conn, stored: Event, b: ap.ApprovalDenied) -> None:
    conn.execute(
        "UPDATE approvals SET state='denied', approver_id=?, via=?, device_id=?, reason=?, "
        "decided_at_ms=? WHERE approval_id=?",
        (b.approver_id, b.via, b.device_id, b.reason, stored.recorded_at_ms, b.approval_id))
    action, rule, amount = _context(conn, b.approval_id)
    _audit(conn, stored, b.approver_id, action=action, rule=rule, approval_id=b.approval_id,
           reason=b.reason, amount_minor=amount)


@PROJECTIONS.on(ap.ApprovalUsed)
def _used(conn, stored: Event, b: ap.ApprovalUsed) -> None:
    conn.execute("UPDATE approvals SET state='used', used_seq=? WHERE approval_id=?",
                 (b.action_seq, b.approval_id))
    _, _, amount = _context(conn, b.approval_id)
    _audit(conn, stored, b.approver_id, action=b.action, rule=b.rule, approval_id=b.approval_id,
           action_seq=b.action_seq, amount_minor=amount)


@PROJECTIONS.on(ap.ApprovalOverridden)
def _overridden(conn, stored: Event, b: ap.ApprovalOverridden) -> None:
    _audit(conn, stored, b.approver_id, action=b.action, rule=b.rule, reason=b.reason,
           action_seq=b.action_seq, amount_minor=b.amount_minor)


@PROJECTIONS.on(ap.ApprovalPinRefused)
def _pin_refused(conn, stored: Event, b: ap.ApprovalPinRefused) -> None:
    action, rule, _ = _context(conn, b.approval_id)
    _audit(conn, stored, b.approver_id, action=action, rule=rule, approval_id=b.approval_id,
           reason=f"wrong PIN ({b.failures} in a row)"
           + (" - locked out" if b.locked_until_ms is not None else ""))
