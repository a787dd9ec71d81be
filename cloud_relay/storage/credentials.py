"""Who may call the relay: enrolled stores (key id and HMAC secret) and HQ bearer tokens.

Invariants:
- A store is named by (tenant_id, store_id): two tenants may both have a `store-001`. A key
  id is unique across the relay and names one store; re-enrolling a revoked store issues a new
  key for the same ledger (its chain simply continues).
- Store secrets are always sealed at rest with the relay's key (`cloud_relay.sealing`); the
  key that sealed them is recognised by a check value in `meta`, so a process with another key
  refuses to start instead of failing every signature. HQ tokens are kept only as SHA-256
  hashes.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloud_relay.errors import AlreadyExists
from cloud_relay.sealing import KEY_CHECK, Sealer, WrongKey, is_sealed
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
            row = tx.one("SELECT revoked_at_ms FROM stores WHERE tenant_id = ? AND store_id = ?",
                         (tenant_id, store_id))
            if row is not None and row[0] is None:
                raise AlreadyExists(f"store {tenant_id}/{store_id} is already enrolled; revoke "
                                    "it first to issue a new credential")
            ensure_tenant(tx, tenant_id, now_ms)
            sealed = self.sealer.seal(secret)
            if row is None:
                tx.rows(
                    "INSERT INTO stores (tenant_id, store_id, key_id, secret, enrolled_at_ms, "
                    "high_seq, last_hash, applied_change_id) VALUES (?, ?, ?, ?, ?, 0, ?, 0)",
                    (tenant_id, store_id, key_id, sealed, now_ms, GENESIS_HASH))
            else:  # re-enrolled after a revocation: new key, same ledger
                tx.rows("UPDATE stores SET key_id = ?, secret = ?, enrolled_at_ms = ?, "
                        "revoked_at_ms = NULL WHERE tenant_id = ? AND store_id = ?",
                        (key_id, sealed, now_ms, tenant_id, store_id))

    def revoke_store(self, tenant_id: str, store_id: str, now_ms: int) -> None:
        with self._write() as tx:
            found = tx.rows("UPDATE stores SET revoked_at_ms = ? WHERE tenant_id = ? AND "
                            "store_id = ? AND revoked_at_ms IS NULL RETURNING store_id",
                            (now_ms, tenant_id, store_id))
            if not found:
                raise NotFound(f"no active store {store_id!r} in tenant {tenant_id!r}")

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

    def adopt_sealer(self, sealer: Sealer) -> int:
        """Use `sealer` for store secrets from now on, after checking it is the key this
        database's secrets are sealed with (the check value in `meta`, recorded by the first
        process with a key; for a database sealed before check values existed, its sealed
        secrets), and seal every secret still stored in clear (a database from a build that
        sealed only when a key was set). One transaction; returns how many it sealed. Raises
        `sealing.WrongKey` for another key."""
        with self._write() as tx:
            check = tx.one("SELECT value FROM meta WHERE key = ?" + self.FOR_UPDATE,
                           (KEY_CHECK,))
            stored = [(r[0], r[1], bytes(r[2])) for r in tx.rows(
                "SELECT tenant_id, store_id, secret FROM stores" + self.FOR_UPDATE)]
            sealed = [secret for _, _, secret in stored if is_sealed(secret)]
            if not (sealer.opens_check(check[0]) if check is not None
                    else all(map(sealer.opens, sealed))):
                raise WrongKey("the store secrets in this database are sealed with another "
                               "key than this relay's")
            if check is None:
                # A process starting beside us may record its key first: then ours must be it.
                tx.rows("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                        (KEY_CHECK, sealer.check_value()))
                recorded = tx.one("SELECT value FROM meta WHERE key = ?", (KEY_CHECK,))
                if recorded is None or not sealer.opens_check(recorded[0]):
                    raise WrongKey("another relay process sealed this database's secrets with "
                                   "another key while this one started")
            clear = [(t, s, secret) for t, s, secret in stored if not is_sealed(secret)]
            tx.many("UPDATE stores SET secret = ? WHERE tenant_id = ? AND store_id = ?",
                    [(sealer.seal(secret), t, s) for t, s, secret in clear])
        self.sealer = sealer
        return len(clear)

    def sealed_before(self) -> bool:
        """Whether this database's secrets were already sealed with some key (so a relay
        without that key must not make itself a new one)."""
        with self._read() as tx:
            if tx.one("SELECT 1 FROM meta WHERE key = ?", (KEY_CHECK,)) is not None:
                return True
            return any(is_sealed(bytes(r[0])) for r in tx.rows("SELECT secret FROM stores"))

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
