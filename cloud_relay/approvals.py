"""HQ's view of manager approvals: the stores' audit trail (synced like every event) counted
per store and per approver, for one tenant, optionally one store and one business day.
A request is counted where it was asked; an approval, denial, use, override or refused PIN
under the approver who made it (for an override, the manager lane whose token did it)."""

from __future__ import annotations

from collections import Counter

from cloud_relay.storage.base import Storage
from schemas import approvals as ap
from schemas.events import decode_body

# Event type -> the counter it moves.
COUNTED = {
    ap.ApprovalRequested.TYPE: "requested",
    ap.ApprovalGranted.TYPE: "approved",
    ap.ApprovalDenied.TYPE: "denied",
    ap.ApprovalUsed.TYPE: "used",
    ap.ApprovalOverridden.TYPE: "overridden",
    ap.ApprovalPinRefused.TYPE: "pin_refused",
}


def summary(storage: Storage, tenant_id: str, store_id: str | None,
            business_date: str | None) -> ap.HqApprovals:
    by_store: dict[str, Counter] = {}
    by_approver: dict[tuple[str, str], Counter] = {}
    for type_, counter in COUNTED.items():
        for entry in storage.events_of_type(tenant_id, type_, store_id, business_date):
            if entry.quarantine is not None:
                continue  # not interpretable by this build: listed by /v1/hq/quarantine
            ev = entry.event
            by_store.setdefault(ev.store_id, Counter())[counter] += 1
            body = decode_body(ev.type, ev.schema_version, ev.body)
            approver = getattr(body, "approver_id", None)
            if approver is not None:
                by_approver.setdefault((ev.store_id, approver), Counter())[counter] += 1
    return ap.HqApprovals(
        tenant_id=tenant_id, relay_epoch=storage.epoch,
        stores=[ap.HqStoreApprovals(store_id=s, **dict(c)) for s, c in sorted(by_store.items())],
        approvers=[ap.HqApproverCount(store_id=s, approver_id=a, **dict(c))
                   for (s, a), c in sorted(by_approver.items())])
