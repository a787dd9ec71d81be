"""Loyalty at HQ: each tenant's loyalty key (sealed with the relay's key, like store secrets),
customers (keyed hashes, sealed personal data, the wrapped data key in a table of its own),
and the points ledger folded from the stores' events (`core.loyalty.apply`).

Invariants:
- A tenant key is created once (under the tenant's row lock) and never replaced.
- `settle` folds the ledger's loyalty movements once each, in ledger order (which keeps each
  store's own order), from a per-tenant cursor, in one transaction with what it publishes: the
  entries, the customers' new balances, and one `loyalty.customer` change per customer touched.
- Erasure zeroes and deletes the customer's wrapped data key, drops its sealed personal data,
  and rewrites every `loyalty.customer` change published for it into an erasure, so no copy
  of the key is left at HQ; the ledger's events are not touched (their ciphertext is noise
  without the key).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from cloud_relay.storage.backend import Tx, ensure_tenant
from cloud_relay.storage.publish import NewChange, Publish
from core import loyalty as rules
from core import pii
from core.errors import Conflict, NotFound
from schemas import loyalty as lo
from schemas.events import decode_body

# Spelled as the partial index `events_loyalty` (schema migration 5) spells them, so it is used.
MOVEMENT_TYPES_SQL = ("('loyalty.points_earned', 'loyalty.points_burned', "
                      "'loyalty.points_returned', 'loyalty.points_clawed_back')")
assert set(lo.MOVEMENT_SIGN) == {
    "loyalty.points_earned", "loyalty.points_burned", "loyalty.points_returned",
    "loyalty.points_clawed_back"}
SETTLE_PAGE = 5_000
_encode = msgspec.json.encode


class CustomerExists(Conflict):
    slug, title = "customer-exists", "A customer with this id is enrolled already"


class CustomerNotFound(NotFound):
    slug, title = "customer-not-found", "No such customer"


@dataclass(frozen=True, slots=True)
class HqCustomer:
    customer_id: str
    revision: int
    lookup: tuple[str, ...]
    pii: bytes | None
    consents: lo.Consents
    burn_cap: int | None
    balance: int
    applied: dict[str, int]
    tier: str
    erased_at_ms: int | None
    wrapped_key: bytes | None
    entries: list[rules.Entry]


class LoyaltyStore(Publish):
    # --- the tenant key ------------------------------------------------------------------

    def has_tenant_key(self, tenant_id: str) -> bool:
        with self._read() as tx:
            return tx.one("SELECT 1 FROM hq_loyalty_keys WHERE tenant_id = ?",
                          (tenant_id,)) is not None

    def tenant_key(self, tenant_id: str, now_ms: int) -> bytes:
        """The tenant's loyalty key, made at first use."""
        with self._read() as tx:
            row = tx.one("SELECT sealed_key FROM hq_loyalty_keys WHERE tenant_id = ?",
                         (tenant_id,))
        if row is not None:
            return self.sealer.unseal(bytes(row[0]))
        with self._write() as tx:
            ensure_tenant(tx, tenant_id, now_ms)
            tx.rows("SELECT tenant_id FROM tenants WHERE tenant_id = ?" + self.FOR_UPDATE,
                    (tenant_id,))
            row = tx.one("SELECT sealed_key FROM hq_loyalty_keys WHERE tenant_id = ?",
                         (tenant_id,))
            if row is not None:
                return self.sealer.unseal(bytes(row[0]))
            key = pii.new_tenant_key()
            tx.rows("INSERT INTO hq_loyalty_keys (tenant_id, sealed_key) VALUES (?, ?)",
                    (tenant_id, self.sealer.seal(key)))
            return key

    # --- customers -----------------------------------------------------------------------

    def enroll(self, tenant_id: str, req: lo.EnrollCustomer, key: pii.TenantKey,
               now_ms: int) -> None:
        sealed, wrapped = pii.seal_customer(key, req.customer_id, _encode(req.personal))
        lookup = pii.lookups(key, req.personal)
        with self._write() as tx:
            ensure_tenant(tx, tenant_id, now_ms)
            if tx.one("SELECT 1 FROM hq_customers WHERE tenant_id = ? AND customer_id = ?",
                      (tenant_id, req.customer_id)):
                raise CustomerExists(f"customer {req.customer_id} is enrolled already")
            tx.rows("INSERT INTO hq_customers (tenant_id, customer_id, revision, lookup, pii, "
                    "consents, burn_cap, balance, applied, tier, erased_at_ms) "
                    "VALUES (?, ?, 1, ?, ?, ?, ?, ?, '{}', '', NULL)",
                    (tenant_id, req.customer_id, json.dumps(list(lookup)), sealed,
                     _encode(req.consents).decode(), req.offline_burn_cap_points,
                     req.balance_points))
            tx.rows("INSERT INTO hq_customer_keys (tenant_id, customer_id, wrapped_key) "
                    "VALUES (?, ?, ?)", (tenant_id, req.customer_id, wrapped))
            if req.balance_points:
                tx.rows("INSERT INTO hq_loyalty_entries (tenant_id, customer_id, n, store_id, "
                        "seq, type, points, balance_after, at_ms, detail) "
                        "VALUES (?, ?, 1, NULL, NULL, 'loyalty.opening_balance', ?, ?, ?, '')",
                        (tenant_id, req.customer_id, req.balance_points, req.balance_points,
                         now_ms))
            self._publish_customer(tx, tenant_id, req.customer_id, now_ms)

    def customer(self, tenant_id: str, customer_id: str) -> HqCustomer:
        with self._read() as tx:
            return self._load(tx, tenant_id, customer_id)

    def _load(self, tx: Tx, tenant_id: str, customer_id: str) -> HqCustomer:
        row = tx.one("SELECT c.customer_id, c.revision, c.lookup, c.pii, c.consents, "
                     "c.burn_cap, c.balance, c.applied, c.tier, c.erased_at_ms, k.wrapped_key "
                     "FROM hq_customers c LEFT JOIN hq_customer_keys k ON "
                     "k.tenant_id = c.tenant_id AND k.customer_id = c.customer_id "
                     "WHERE c.tenant_id = ? AND c.customer_id = ?", (tenant_id, customer_id))
        if row is None:
            raise CustomerNotFound(f"no customer {customer_id}")
        entries = [rules.Entry(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in tx.rows(
            "SELECT store_id, seq, type, points, balance_after, at_ms, detail FROM "
            "hq_loyalty_entries WHERE tenant_id = ? AND customer_id = ? ORDER BY n",
            (tenant_id, customer_id))]
        return HqCustomer(
            customer_id=row[0], revision=row[1], lookup=tuple(json.loads(row[2])),
            pii=bytes(row[3]) if row[3] is not None else None,
            consents=msgspec.json.decode(row[4], type=lo.Consents), burn_cap=row[5],
            balance=row[6], applied=json.loads(row[7]), tier=row[8], erased_at_ms=row[9],
            wrapped_key=bytes(row[10]) if row[10] is not None else None, entries=entries)

    def _publish_customer(self, tx: Tx, tenant_id: str, customer_id: str, now_ms: int) -> None:
        c = self._load(tx, tenant_id, customer_id)
        assert c.pii is not None and c.wrapped_key is not None
        change = lo.CustomerChange(
            customer_id=c.customer_id, revision=c.revision, lookup=c.lookup, pii=c.pii,
            wrapped_key=c.wrapped_key, tier=c.tier, balance_points=c.balance,
            hq_seqs=c.applied, consents=c.consents, offline_burn_cap_points=c.burn_cap)
        change_id = self._append_changes(
            tx, tenant_id, [NewChange("loyalty.customer", _encode(change))], now_ms)
        tx.rows("INSERT INTO hq_customer_changes (tenant_id, customer_id, change_id) "
                "VALUES (?, ?, ?)", (tenant_id, customer_id, change_id))

    def erase(self, tenant_id: str, customer_id: str, now_ms: int) -> bool:
        """Crypto-shred the customer; False when it was erased already."""
        with self._write() as tx:
            row = tx.one("SELECT erased_at_ms FROM hq_customers WHERE tenant_id = ? AND "
                         "customer_id = ?" + self.FOR_UPDATE, (tenant_id, customer_id))
            if row is None:
                raise CustomerNotFound(f"no customer {customer_id}")
            if row[0] is not None:
                return False
            tx.rows("UPDATE hq_customer_keys SET wrapped_key = ? WHERE tenant_id = ? AND "
                    "customer_id = ?", (bytes(64), tenant_id, customer_id))
            tx.rows("DELETE FROM hq_customer_keys WHERE tenant_id = ? AND customer_id = ?",
                    (tenant_id, customer_id))
            tx.rows("UPDATE hq_customers SET pii = NULL, lookup = '[]', erased_at_ms = ? "
                    "WHERE tenant_id = ? AND customer_id = ?", (now_ms, tenant_id, customer_id))
            erasure = _encode(lo.ErasureChange(customer_id=customer_id, erased_at_ms=now_ms))
            # Every change that carried the wrapped key now says "erased" instead.
            tx.rows("UPDATE changes SET kind = 'loyalty.erasure', payload = ? WHERE "
                    "tenant_id = ? AND change_id IN (SELECT change_id FROM hq_customer_changes "
                    "WHERE tenant_id = ? AND customer_id = ?)",
                    (erasure, tenant_id, tenant_id, customer_id))
            self._append_changes(tx, tenant_id, [NewChange("loyalty.erasure", erasure)], now_ms)
        return True

    # --- the ledger ----------------------------------------------------------------------

    def settle(self, tenant_id: str, now_ms: int, *, overdraft: str = "debt",
               tiers: dict[str, int] | None = None,
               on_entry: Callable[[str, rules.Entry], None] | None = None) -> int:
        """Fold the loyalty movements uploaded since the last settle; returns how many."""
        with self._read() as tx:  # the common case, nothing new: no write transaction
            row = tx.one("SELECT ledger_seq FROM hq_loyalty_cursor WHERE tenant_id = ?",
                         (tenant_id,))
            if not tx.rows(f"SELECT 1 FROM events WHERE tenant_id = ? AND ledger_seq > ? AND "
                           f"type IN {MOVEMENT_TYPES_SQL} LIMIT 1",
                           (tenant_id, row[0] if row else 0)):
                return 0
        with self._write() as tx:
            ensure_tenant(tx, tenant_id, now_ms)
            tx.rows("SELECT tenant_id FROM tenants WHERE tenant_id = ?" + self.FOR_UPDATE,
                    (tenant_id,))
            row = tx.one("SELECT ledger_seq FROM hq_loyalty_cursor WHERE tenant_id = ?",
                         (tenant_id,))
            after = row[0] if row else 0
            found = tx.rows(
                "SELECT ledger_seq, store_id, seq, type, schema_version, body, recorded_at_ms "
                f"FROM events WHERE tenant_id = ? AND ledger_seq > ? AND type IN {MOVEMENT_TYPES_SQL} "
                "AND quarantine IS NULL ORDER BY ledger_seq LIMIT ?",
                (tenant_id, after, SETTLE_PAGE))
            if not found:
                return 0
            accounts: dict[str, tuple[rules.Account, int]] = {}  # customer -> (account, n)
            applied = 0
            for ledger_seq, store_id, seq, typ, version, body, at_ms in found:
                if typ not in lo.MOVEMENT_SIGN:
                    continue
                b = decode_body(typ, version, bytes(body))
                cid = b.customer_id  # type: ignore[attr-defined]
                if cid not in accounts:
                    acct_row = tx.one("SELECT balance, applied FROM hq_customers WHERE "
                                      "tenant_id = ? AND customer_id = ?", (tenant_id, cid))
                    if acct_row is None:
                        continue  # a customer HQ never enrolled: nothing to credit
                    n = tx.one("SELECT COALESCE(MAX(n), 0) FROM hq_loyalty_entries WHERE "
                               "tenant_id = ? AND customer_id = ?", (tenant_id, cid))
                    accounts[cid] = (rules.Account(acct_row[0], json.loads(acct_row[1])),
                                     n[0] if n else 0)
                acct, _n = accounts[cid]
                entries = rules.apply(acct, store_id, seq, typ, b.points,  # type: ignore[attr-defined]
                                      at_ms, lo.MOVEMENT_SIGN[typ], overdraft=overdraft)
                applied += bool(entries)
                for e in entries:
                    if on_entry is not None:
                        on_entry(cid, e)
            for cid, (acct, n) in accounts.items():
                tx.many("INSERT INTO hq_loyalty_entries (tenant_id, customer_id, n, store_id, "
                        "seq, type, points, balance_after, at_ms, detail) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [(tenant_id, cid, n + i, e.store_id, e.seq, e.type, e.points,
                          e.balance_after, e.at_ms, e.detail)
                         for i, e in enumerate(acct.entries, start=1)])
                earned = tx.one(
                    f"SELECT COALESCE(SUM(points), 0) FROM hq_loyalty_entries WHERE {_WINDOW} "
                    "AND customer_id = ?", (*_window_args(tenant_id, now_ms), cid))
                tier = rules.tier_for(max(earned[0] if earned else 0, 0),
                                      tiers if tiers is not None else DEFAULT_TIERS)
                tx.rows("UPDATE hq_customers SET balance = ?, applied = ?, tier = ?, "
                        "revision = revision + 1 WHERE tenant_id = ? AND customer_id = ?",
                        (acct.balance, json.dumps(acct.applied, sort_keys=True), tier,
                         tenant_id, cid))
                erased = tx.one("SELECT erased_at_ms FROM hq_customers WHERE tenant_id = ? "
                                "AND customer_id = ?", (tenant_id, cid))
                if erased is not None and erased[0] is None:
                    self._publish_customer(tx, tenant_id, cid, now_ms)
            last = found[-1][0]
            tx.rows("INSERT INTO hq_loyalty_cursor (tenant_id, ledger_seq) VALUES (?, ?) "
                    "ON CONFLICT (tenant_id) DO UPDATE SET ledger_seq = excluded.ledger_seq",
                    (tenant_id, last))
        return applied


    def recompute_tiers(self, tenant_id: str, now_ms: int,
                        tiers: dict[str, int] | None = None) -> list[tuple[str, str, str]]:
        """Every customer's tier as of `now_ms` (`core.loyalty.tier_at`), not only those
        with new movements: earnings that left the rolling 12 months lower a tier with no
        movement at all. Each customer whose tier changes gets a new revision, published down
        (`loyalty.customer`), in one transaction under the tenant's row lock (so no settle
        runs between the read and the write). Returns (customer, old tier, new tier)."""
        thresholds = tiers if tiers is not None else DEFAULT_TIERS
        changed: list[tuple[str, str, str]] = []
        with self._write() as tx:
            ensure_tenant(tx, tenant_id, now_ms)
            tx.rows("SELECT tenant_id FROM tenants WHERE tenant_id = ?" + self.FOR_UPDATE,
                    (tenant_id,))
            earned = dict(tx.rows(
                f"SELECT customer_id, COALESCE(SUM(points), 0) FROM hq_loyalty_entries WHERE "
                f"{_WINDOW} GROUP BY customer_id", _window_args(tenant_id, now_ms)))
            for cid, tier in tx.rows("SELECT customer_id, tier FROM hq_customers WHERE "
                                     "tenant_id = ? AND erased_at_ms IS NULL ORDER BY "
                                     "customer_id", (tenant_id,)):
                new = rules.tier_for(max(earned.get(cid, 0), 0), thresholds)
                if new != tier:
                    changed.append((cid, tier, new))
            for cid, _old, new in changed:
                tx.rows("UPDATE hq_customers SET tier = ?, revision = revision + 1 WHERE "
                        "tenant_id = ? AND customer_id = ?", (new, tenant_id, cid))
                self._publish_customer(tx, tenant_id, cid, now_ms)
            tx.rows("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                    "SET value = excluded.value", (_tiers_key(tenant_id), str(now_ms)))
        return changed

    def tiers_recomputed_at(self, tenant_id: str) -> int | None:
        """When `recompute_tiers` last ran for the tenant (None: never)."""
        with self._read() as tx:
            row = tx.one("SELECT value FROM meta WHERE key = ?", (_tiers_key(tenant_id),))
        return int(row[0]) if row is not None else None


# The tier basis: points earned, less claw-backs, over the rolling 12 months up to now.
_WINDOW = "tenant_id = ? AND at_ms >= ? AND at_ms <= ? AND type IN (?, ?)"


def _window_args(tenant_id: str, now_ms: int) -> tuple:
    return (tenant_id, now_ms - rules.MS_PER_YEAR, now_ms, lo.PointsEarned.TYPE,
            lo.PointsClawedBack.TYPE)


def _tiers_key(tenant_id: str) -> str:
    return f"loyalty_tiers_at:{tenant_id}"


# Points earned over a rolling 12 months -> tier.
DEFAULT_TIERS: dict[str, int] = {"": 0, "silver": 1_000, "gold": 5_000}
