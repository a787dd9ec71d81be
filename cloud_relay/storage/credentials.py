"""Who may call the relay: enrolled stores (key id and HMAC secret) and HQ bearer tokens.

Invariants:
- A store id is unique across the relay and belongs to one tenant forever; re-enrolling a
  revoked store issues a new key for the same ledger (its chain simply continues).
- Store secrets are sealed at rest when the relay has a key (`cloud_relay.sealing`); HQ tokens
  are kept only as SHA-256 hashes.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloud_relay.errors import AlreadyExists
from cloud_relay.storage.backend import Backend, ensure_tenant
from core.chain import GENESIS_HASH
from core.errors import NotFound
from schemas.relay import StoreRecord


@dataclass(frozen=True, slots=True)
class Credential:
    tenant_id: str
    store_id: str
    key_id: str
    secret: bytes
    revoked: bool


class Credentials(Backend):
    def enroll_store(self, tenant_id: str, store_id: str, key_id: str, secret: bytes,
                     now_ms: int) -> None:
        with self._write() as tx:
            row = tx.one("SELECT tenant_id, revoked_at_ms FROM stores WHERE store_id = ?",
                         (store_id,))
            if row is not None and row[0] != tenant_id:
                raise AlreadyExists(f"store id {store_id!r} is enrolled for another tenant; "
                                    "store ids are unique across the relay")
            if row is not None and row[1] is None:
                raise AlreadyExists(f"store {store_id} is already enrolled; revoke it first to "
                                    "issue a new credential")
            ensure_tenant(tx, tenant_id, now_ms)
            if row is None:
                tx.rows(
                    "INSERT INTO stores (store_id, tenant_id, key_id, secret, enrolled_at_ms, "
                    "high_seq, last_hash, applied_change_id) VALUES (?, ?, ?, ?, ?, 0, ?, 0)",
                    (store_id, tenant_id, key_id, self.sealer.seal(secret), now_ms,
                     GENESIS_HASH))
            else:  # re-enrolled after a revocation: new key, same ledger
                tx.rows("UPDATE stores SET key_id = ?, secret = ?, enrolled_at_ms = ?, "
                        "revoked_at_ms = NULL WHERE store_id = ?",
                        (key_id, self.sealer.seal(secret), now_ms, store_id))

    def revoke_store(self, store_id: str, now_ms: int) -> None:
        with self._write() as tx:
            found = tx.rows("UPDATE stores SET revoked_at_ms = ? WHERE store_id = ? AND "
                            "revoked_at_ms IS NULL RETURNING store_id", (now_ms, store_id))
            if not found:
                raise NotFound(f"no active store {store_id!r}")

    def list_stores(self, tenant_id: str | None = None) -> list[StoreRecord]:
        sql = "SELECT tenant_id, store_id, key_id, enrolled_at_ms, revoked_at_ms FROM stores"
        args: tuple = ()
        if tenant_id is not None:
            sql, args = sql + " WHERE tenant_id = ?", (tenant_id,)
        with self._read() as tx:
            return [StoreRecord(*r) for r in tx.rows(sql + " ORDER BY tenant_id, store_id", args)]

    def credential(self, key_id: str) -> Credential | None:
        with self._read() as tx:
            row = tx.one("SELECT tenant_id, store_id, key_id, secret, revoked_at_ms FROM stores "
                         "WHERE key_id = ?", (key_id,))
        if row is None:
            return None
        return Credential(row[0], row[1], row[2], self.sealer.unseal(bytes(row[3])),
                          row[4] is not None)

    def create_hq_token(self, tenant_id: str, token_id: str, token_hash: bytes,
                        now_ms: int) -> None:
        with self._write() as tx:
            ensure_tenant(tx, tenant_id, now_ms)
            tx.rows("INSERT INTO hq_tokens (token_id, tenant_id, token_hash, created_at_ms) "
                    "VALUES (?, ?, ?, ?)", (token_id, tenant_id, token_hash, now_ms))

    def hq_tenant(self, token_hash: bytes) -> str | None:
        with self._read() as tx:
            row = tx.one("SELECT tenant_id FROM hq_tokens WHERE token_hash = ? AND "
                         "revoked_at_ms IS NULL", (token_hash,))
        return row[0] if row else None

    def revoke_hq_token(self, token_id: str, now_ms: int) -> None:
        with self._write() as tx:
            if not tx.rows("UPDATE hq_tokens SET revoked_at_ms = ? WHERE token_id = ? AND "
                           "revoked_at_ms IS NULL RETURNING token_id", (now_ms, token_id)):
                raise NotFound(f"no active HQ token {token_id!r}")
