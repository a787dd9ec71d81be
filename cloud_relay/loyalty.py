"""HQ's loyalty: enroll and erase customers, settle the points the stores uploaded, and the
full customer view (`GET /v1/hq/customers/{id}`), personal data opened with the tenant's key.

Settling runs before a store's change set is served (so a store pulls balances that count
everything uploaded so far), and on `POST /v1/hq/loyalty/settle`. docs/loyalty.md.
"""

from __future__ import annotations

import base64

import msgspec

from cloud_relay.storage.base import Storage
from cloud_relay.storage.loyalty import HqCustomer
from cloud_relay.storage.publish import NewChange, PublishPlan
from core import loyalty as rules
from core import pii
from schemas import loyalty as lo


KEY_KIND = "loyalty.tenant_key"


def _raw_key(storage: Storage, tenant_id: str, now_ms: int) -> bytes:
    """The tenant key; made at first use, and then sent to every store of the tenant."""
    if storage.has_tenant_key(tenant_id):
        return storage.tenant_key(tenant_id, now_ms)
    key = storage.tenant_key(tenant_id, now_ms)
    deliver_key(storage, tenant_id, now_ms)
    return key


def tenant_key(storage: Storage, tenant_id: str, now_ms: int) -> pii.TenantKey:
    return pii.TenantKey(_raw_key(storage, tenant_id, now_ms))


def tenant_key_b64(storage: Storage, tenant_id: str, now_ms: int) -> dict[str, str]:
    """For provisioning a store by hand (`novapos-edge loyalty import-key`): the fallback
    when down-sync cannot deliver it (`deliver_key`)."""
    return {"tenant_id": tenant_id,
            "key_b64": base64.b64encode(_raw_key(storage, tenant_id, now_ms)).decode()}


def deliver_key(storage: Storage, tenant_id: str, now_ms: int,
                store_id: str | None = None) -> dict[str, int]:
    """Send the tenant key down to the tenant's enrolled stores (or one), each copy sealed
    for that store under its credential (`core.pii.wrap_for_store`): a per-store
    `loyalty.tenant_key` change. Nothing when the tenant has no key yet (it is sent when it is
    made). Runs when the key is made, when a store is enrolled, and on
    `POST /v1/hq/loyalty/key/deliver` (stores enrolled before this existed)."""
    if not storage.has_tenant_key(tenant_id):
        return {"stores": 0}
    key = storage.tenant_key(tenant_id, now_ms)
    changes = []
    for rec in storage.list_stores(tenant_id):
        if rec.revoked_at_ms is not None or store_id is not None and rec.store_id != store_id:
            continue
        cred = storage.credential(rec.key_id)
        if cred is None or cred.revoked:
            continue
        wrapped = pii.wrap_for_store(key, cred.secret, tenant_id, rec.store_id, rec.key_id)
        changes.append(NewChange(KEY_KIND, msgspec.json.encode(lo.TenantKeyChange(
            store_id=rec.store_id, credential_key_id=rec.key_id, wrapped=wrapped)),
            store_id=rec.store_id))
    if changes:
        storage.publish(tenant_id, lambda _state: PublishPlan(changes=changes), now_ms)
    return {"stores": len(changes)}


# How often every customer's tier is recomputed (earnings leaving the rolling 12 months):
# at the first settle of a tenant after this much time since the last recompute.
TIER_RECOMPUTE_MS = 24 * 3600 * 1000


def _fold(storage: Storage, tenant_id: str, now_ms: int) -> int:
    total = 0
    while True:
        n = storage.settle(tenant_id, now_ms)
        total += n
        if n == 0:
            return total


def settle(storage: Storage, tenant_id: str, now_ms: int) -> int:
    """Fold what the stores uploaded (the tiers of the customers it touched follow), then,
    once a day, recompute every customer's tier (those with no movement too)."""
    total = _fold(storage, tenant_id, now_ms)
    at = storage.tiers_recomputed_at(tenant_id)
    if at is None or now_ms - at >= TIER_RECOMPUTE_MS or now_ms < at:
        storage.recompute_tiers(tenant_id, now_ms)
    return total


def recompute_tiers(storage: Storage, tenant_id: str, now_ms: int) -> lo.TierRecompute:
    """Settle, then every customer's tier as of now; the changed ones go down."""
    _fold(storage, tenant_id, now_ms)
    changed = storage.recompute_tiers(tenant_id, now_ms)
    return lo.TierRecompute(changed=[lo.TierChange(customer_id=c, tier_before=old, tier=new)
                                     for c, old, new in changed])


def enroll(storage: Storage, tenant_id: str, req: lo.EnrollCustomer,
           now_ms: int) -> lo.HqCustomerView:
    storage.enroll(tenant_id, req, tenant_key(storage, tenant_id, now_ms), now_ms)
    return view(storage, tenant_id, req.customer_id, now_ms)


def erase(storage: Storage, tenant_id: str, customer_id: str, now_ms: int) -> lo.HqCustomerView:
    storage.erase(tenant_id, customer_id, now_ms)
    return view(storage, tenant_id, customer_id, now_ms)


def _personal(key: pii.TenantKey, c: HqCustomer) -> lo.PersonalData | None:
    if c.pii is None or c.wrapped_key is None:
        return None
    dek = key.unwrap(c.customer_id, c.wrapped_key)
    return msgspec.json.decode(pii.open_pii(dek, c.customer_id, c.pii), type=lo.PersonalData)


def view(storage: Storage, tenant_id: str, customer_id: str, now_ms: int) -> lo.HqCustomerView:
    settle(storage, tenant_id, now_ms)
    c = storage.customer(tenant_id, customer_id)
    earned = rules.earned_since(c.entries, now_ms - rules.MS_PER_YEAR, lo.PointsEarned.TYPE,
                                lo.PointsClawedBack.TYPE)
    return lo.HqCustomerView(
        customer_id=c.customer_id, personal=_personal(tenant_key(storage, tenant_id, now_ms), c),
        tier=c.tier, balance_points=c.balance, earned_12m_points=earned, consents=c.consents,
        revision=c.revision, erased=c.erased_at_ms is not None,
        movements=[lo.Movement(store_id=e.store_id, seq=e.seq, type=e.type, points=e.points,
                               balance_after=e.balance_after, detail=e.detail)
                   for e in c.entries])
