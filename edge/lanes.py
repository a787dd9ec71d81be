"""Lane enrollment and bearer-token authentication.

A token is shown once, at enrollment; the database keeps only its SHA-256. A token binds a
tenant, a store, a lane and a role: the tenant-scoping middleware derives all four from it,
and no handler ever reads them from a request body.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import apsw

from core.ids import uuid7
from schemas.sync import Change, LaneTokenRevoked
from sync.downsync import decode
from sync.port import StoreTx

Role = Literal["cashier", "manager"]
TOKEN_PREFIX = "npe_"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    store_id: str
    lane_id: str
    role: Role
    token_id: str

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"


@dataclass(frozen=True, slots=True)
class Enrollment:
    token: str
    token_id: str
    lane_id: str
    role: Role


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def enroll(
    conn: apsw.Connection, *, tenant_id: str, store_id: str, lane_id: str, role: Role, now_ms: int
) -> Enrollment:
    assert role in ("cashier", "manager")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = uuid7()
    with conn:
        conn.execute(
            "INSERT INTO lane_tokens(token_hash, token_id, tenant_id, store_id, lane_id, role, "
            "created_at_ms) VALUES (?,?,?,?,?,?,?)",
            (token_hash(token), token_id, tenant_id, store_id, lane_id, role, now_ms),
        )
    return Enrollment(token, token_id, lane_id, role)


def authenticate(conn: apsw.Connection, token: str) -> Principal | None:
    rows = conn.execute(
        "SELECT tenant_id, store_id, lane_id, role, token_id FROM lane_tokens "
        "WHERE token_hash = ? AND revoked_at_ms IS NULL",
        (token_hash(token),),
    ).fetchall()
    return Principal(*rows[0]) if rows else None


def revoke(conn: apsw.Connection, *, lane_id: str, now_ms: int) -> int:
    with conn:
        conn.execute(
            "UPDATE lane_tokens SET revoked_at_ms = ? WHERE lane_id = ? AND revoked_at_ms IS NULL",
            (now_ms, lane_id),
        )
        return conn.changes()


def listing(conn: apsw.Connection) -> list[dict]:
    cols = ("token_id", "lane_id", "role", "tenant_id", "store_id", "created_at_ms", "revoked_at_ms")
    return [
        dict(zip(cols, row))
        for row in conn.execute(f"SELECT {', '.join(cols)} FROM lane_tokens ORDER BY created_at_ms")
    ]


def apply_revocations(tx: StoreTx, changes: Sequence[Change]) -> list[str]:
    """Down-sync `lane.token_revoked`: HQ revokes a lane's tokens (all, or one by id)."""
    out = []
    for change in changes:
        rev = decode(change, LaneTokenRevoked)
        if rev.store_id != tx.store_id:
            out.append(f"for store {rev.store_id}; not this one")
            continue
        sql = "UPDATE lane_tokens SET revoked_at_ms = ? WHERE lane_id = ? AND revoked_at_ms IS NULL"
        args: tuple = (tx.now_ms, rev.lane_id)
        if rev.token_id is not None:
            sql += " AND token_id = ?"
            args += (rev.token_id,)
        tx.conn.execute(sql, args)
        out.append(f"{tx.conn.changes()} token(s) of lane {rev.lane_id} revoked")
    return out
