"""Stored responses for Idempotency-Key replays.

A row is written in the same savepoint as the effect it answers for, so after any crash either
both exist or neither does. Keys are scoped to the lane; rows are pruned after the retention.
"""

from __future__ import annotations

from dataclasses import dataclass

import apsw


@dataclass(frozen=True, slots=True)
class StoredResponse:
    fingerprint: bytes
    status: int
    body: bytes


def lookup(conn: apsw.Connection, lane_id: str, key: str) -> StoredResponse | None:
    rows = conn.execute(
        "SELECT fingerprint, status, body FROM idempotency_keys WHERE lane_id = ? AND key = ?",
        (lane_id, key),
    ).fetchall()
    return StoredResponse(*rows[0]) if rows else None


def save(conn: apsw.Connection, lane_id: str, key: str, response: StoredResponse, now_ms: int) -> None:
    conn.execute(
        "INSERT INTO idempotency_keys(lane_id, key, fingerprint, status, body, created_at_ms) "
        "VALUES (?,?,?,?,?,?)",
        (lane_id, key, response.fingerprint, response.status, response.body, now_ms),
    )


def prune(conn: apsw.Connection, older_than_ms: int) -> int:
    conn.execute("DELETE FROM idempotency_keys WHERE created_at_ms < ?", (older_than_ms,))
    return conn.changes()
