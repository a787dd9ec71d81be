"""What HQ sends a store, built as HQ builds it (tests stand in for the relay here)."""

from __future__ import annotations

import itertools
from pathlib import Path

import msgspec

from core import pii
from edge.loyalty.service import import_key
from edge.loyalty.settings import LoyaltyConfig
from edge.store.kernel import Store
from schemas import loyalty as lo
from schemas.sync import Change
from edge.loyalty.commands import apply_customers, apply_erasures

TENANT_KEY = bytes(range(32))
KEY = pii.TenantKey(TENANT_KEY)
_change_ids = itertools.count(1)


def provision(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    import_key(data_dir, LoyaltyConfig(), TENANT_KEY)


def customer_change(customer_id: str, personal: lo.PersonalData, *, balance: int = 0,
                    revision: int = 1, tier: str = "", hq_seqs: dict[str, int] | None = None,
                    cap: int | None = None, sealed: tuple[bytes, bytes] | None = None
                    ) -> lo.CustomerChange:
    blob, wrapped = sealed or pii.seal_customer(KEY, customer_id, msgspec.json.encode(personal))
    return lo.CustomerChange(
        customer_id=customer_id, revision=revision, lookup=pii.lookups(KEY, personal), pii=blob,
        wrapped_key=wrapped, tier=tier, balance_points=balance, hq_seqs=hq_seqs or {},
        consents=lo.Consents(e_receipts=True), offline_burn_cap_points=cap)


def down_sync_customer(store: Store, change: lo.CustomerChange) -> None:
    c = Change(next(_change_ids), "loyalty.customer", msgspec.json.encode(change), 0)
    store.writer.run_sync(lambda tx: apply_customers(tx, [c]))


def down_sync_erasure(store: Store, customer_id: str) -> None:
    c = Change(next(_change_ids), "loyalty.erasure",
               msgspec.json.encode(lo.ErasureChange(customer_id=customer_id, erased_at_ms=1)), 0)
    store.writer.run_sync(lambda tx: apply_erasures(tx, [c]))
