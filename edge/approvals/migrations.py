"""The approvals domain's tables (component "approvals").

Read models rebuilt from the log: `approvals` (one row per request and its fate) and
`approval_audit` (one row per approval event, for `GET /v1/audit`). Kept outside the log,
like lane tokens: `approvers` (PIN hashes and lockout counters: a PIN hash must never be
synced), `approver_devices` (enrolled Ed25519 public keys, revocations) and
`approval_secret` (the store's key for approval token MACs, made once, here)."""

from __future__ import annotations

from core.migrations import Migration

MIGRATIONS = [
    Migration(1, "approvals: requests, audit trail, approvers, devices, token key", """
    CREATE TABLE approvals (
        approval_id TEXT PRIMARY KEY,
        action TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        subject TEXT NOT NULL,
        rule TEXT NOT NULL,
        role TEXT NOT NULL,
        lane_id TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        detail TEXT NOT NULL,
        amount_minor INTEGER,
        share_bp INTEGER,
        lines INTEGER,
        requested_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        state TEXT NOT NULL,
        approver_id TEXT,
        via TEXT,
        device_id TEXT,
        reason TEXT,
        decided_at_ms INTEGER,
        token_expires_at_ms INTEGER,
        used_seq INTEGER
    );
    CREATE INDEX approvals_by_state ON approvals(state, requested_at_ms);
    CREATE INDEX approvals_by_request ON approvals(lane_id, fingerprint, state);
    CREATE TABLE approval_audit (
        seq INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        recorded_at_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        lane_id TEXT,
        action TEXT,
        rule TEXT,
        approval_id TEXT,
        reason TEXT,
        action_seq INTEGER,
        amount_minor INTEGER
    );
    CREATE INDEX approval_audit_by_time ON approval_audit(recorded_at_ms);
    CREATE INDEX approval_audit_by_actor ON approval_audit(actor, recorded_at_ms);
    CREATE TABLE approvers (
        approver_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        pin_hash TEXT NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        locked_until_ms INTEGER,
        created_at_ms INTEGER NOT NULL
    );
    CREATE TABLE approver_devices (
        device_id TEXT PRIMARY KEY,
        approver_id TEXT NOT NULL REFERENCES approvers(approver_id),
        public_key BLOB NOT NULL,
        enrolled_at_ms INTEGER NOT NULL,
        revoked_at_ms INTEGER
    );
    CREATE TABLE approval_secret (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        key BLOB NOT NULL
    );
    INSERT INTO approval_secret(id, key) VALUES (1, randomblob(32));
    """),
]
