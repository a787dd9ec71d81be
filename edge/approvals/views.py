"""Approvals as the API shows them: one request (with its token, to the lane that asked),
the pending list, the audit trail. Reads only; "expired" is judged against the clock here."""

from __future__ import annotations

import apsw

from core.errors import InvalidInput
from edge.approvals import statement, tokens
from edge.approvals.commands import secret
from edge.approvals.errors import UnknownApproval
from edge.lanes import Principal
from edge.store.writer import StoreIdentity
from schemas import approvals as ap

MAX_LIST = 500
_COLS = ("approval_id, action, rule, subject, fingerprint, lane_id, requested_at_ms, "
         "expires_at_ms, detail, amount_minor, share_bp, lines, state, approver_id, via, "
         "reason, token_expires_at_ms")


def _state(state: str, expires_at_ms: int, token_expires_at_ms: int | None, now_ms: int) -> str:
    if state == "pending" and now_ms >= expires_at_ms:
        return "expired"
    if state == "approved" and token_expires_at_ms is not None and now_ms >= token_expires_at_ms:
        return "expired"
    return state


def _view(conn: apsw.Connection, r: tuple, identity: StoreIdentity, now_ms: int,
          who: Principal | None) -> ap.ApprovalView:
    (approval_id, action, rule, subject, fp, lane_id, requested_at_ms, expires_at_ms, detail,
     amount, share_bp, lines, state, approver_id, via, reason, token_expires) = r
    shown = _state(state, expires_at_ms, token_expires, now_ms)
    token = None
    if shown == "approved" and who is not None and who.lane_id == lane_id:
        token = tokens.make(secret(conn), approval_id, fp, token_expires)
    sign = None
    if shown == "pending":
        # What a device signs, with its own approver, device, time and reason filled in.
        sign = statement.canonical(
            tenant_id=identity.tenant_id, store_id=identity.store_id, approval_id=approval_id,
            decision="approve", fingerprint=fp, approver_id="<approver>", device_id="<device>",
            signed_at_ms=0, reason="").decode()
    return ap.ApprovalView(
        approval_id=approval_id, state=shown, action=action, rule=rule,
        subject=subject, fingerprint=fp, lane_id=lane_id, requested_at_ms=requested_at_ms,
        expires_at_ms=expires_at_ms, detail=detail, amount_minor=amount, share_bp=share_bp,
        lines=lines, approver_id=approver_id, via=via, reason=reason,
        token_expires_at_ms=token_expires, token=token, statement=sign)


def one(conn: apsw.Connection, approval_id: str, identity: StoreIdentity, now_ms: int,
        who: Principal | None) -> ap.ApprovalView:
    rows = conn.execute(f"SELECT {_COLS} FROM approvals WHERE approval_id = ?",
                        (approval_id,)).fetchall()
    if not rows:
        raise UnknownApproval(f"no approval {approval_id}")
    return _view(conn, rows[0], identity, now_ms, who)


def listing(conn: apsw.Connection, state: str | None, identity: StoreIdentity, now_ms: int,
            limit: int = MAX_LIST) -> ap.ApprovalList:
    """Approvals, newest first; `state=pending` is what managers still have to decide."""
    sql, args = f"SELECT {_COLS} FROM approvals", []
    if state == "pending":
        sql += " WHERE state = 'pending' AND expires_at_ms > ?"
        args.append(now_ms)
    elif state == "expired":
        sql += (" WHERE (state = 'pending' AND expires_at_ms <= ?) OR "
                "(state = 'approved' AND token_expires_at_ms <= ?)")
        args += [now_ms, now_ms]
    elif state == "approved":
        sql += " WHERE state = 'approved' AND token_expires_at_ms > ?"
        args.append(now_ms)
    elif state is not None:
        sql += " WHERE state = ?"
        args.append(state)
    sql += " ORDER BY requested_at_ms DESC, approval_id DESC LIMIT ?"
    args.append(limit)
    return ap.ApprovalList([_view(conn, r, identity, now_ms, None)
                            for r in conn.execute(sql, args).fetchall()])


def audit(conn: apsw.Connection, from_ms: int | None, to_ms: int | None, actor: str | None,
          limit: int = MAX_LIST) -> ap.AuditList:
    """Every approval event in [from_ms, to_ms), oldest first, optionally by one actor."""
    if from_ms is not None and to_ms is not None and to_ms < from_ms:
        raise InvalidInput("to is before from", field="to")
    where, args = [], []
    if from_ms is not None:
        where.append("recorded_at_ms >= ?")
        args.append(from_ms)
    if to_ms is not None:
        where.append("recorded_at_ms < ?")
        args.append(to_ms)
    if actor is not None:
        where.append("actor = ?")
        args.append(actor)
    sql = ("SELECT seq, type, recorded_at_ms, actor, lane_id, action, rule, approval_id, "
           "reason, action_seq, amount_minor FROM approval_audit")
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq LIMIT ?"
    args.append(limit)
    return ap.AuditList([ap.AuditEntry(*r) for r in conn.execute(sql, args).fetchall()])


def approvers(conn: apsw.Connection) -> ap.ApproverList:
    out = []
    for approver_id, name, failures, locked in conn.execute(
            "SELECT approver_id, name, failures, locked_until_ms FROM approvers "
            "ORDER BY approver_id").fetchall():
        devices = conn.execute("SELECT device_id, revoked_at_ms FROM approver_devices WHERE "
                               "approver_id = ? ORDER BY device_id", (approver_id,)).fetchall()
        out.append(ap.ApproverView(
            approver_id=approver_id, name=name, failures=failures, locked_until_ms=locked,
            devices=[d for d, r in devices if r is None],
            revoked_devices=[d for d, r in devices if r is not None]))
    return ap.ApproverList(out)
