"""The tenant key by down-sync (kind "loyalty.tenant_key"): HQ sends each store the tenant's
loyalty key sealed for it alone, under its relay credential (`core.pii.wrap_for_store`). The
store opens it with its own credential secret, writes the key file (`import_key`, mode 0600,
atomically) and starts using it at once; no clear key on the wire, in the log or the logs.

A copy sealed for another store or another (older) credential is skipped. A key that differs
from the one the store already holds is rejected (a tenant key never changes: customers'
data keys are wrapped by it); the manual path (`novapos-edge loyalty import-key`) stays for a
store that cannot sync.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from core import pii
from core.signing import StoreCredential
from edge.loyalty.service import import_key
from edge.loyalty.settings import LoyaltyConfig
from schemas import loyalty as lo
from schemas.sync import Change
from sync.port import ChangeApplier, ChangeRejected, StoreTx

KIND = "loyalty.tenant_key"


def held_key(data_dir: Path, config: LoyaltyConfig) -> bytes | None:
    """The raw key in the key file; None when there is none (or it is not a key)."""
    try:
        raw = (data_dir / config.key_file).read_bytes()
        key = base64.b64decode(raw.strip(), validate=True)
    except (FileNotFoundError, binascii.Error, ValueError):
        return None
    return key if len(key) == pii.KEY_BYTES else None


def applier(data_dir: Path, config: LoyaltyConfig,
            credential: Callable[[], StoreCredential | None],
            installed: Callable[[bytes], None] = lambda key: None) -> ChangeApplier:
    """`credential()`: the store's relay credential now; `installed(key)`: the running
    service takes the new key (the daemon's `Loyalty.provision`)."""

    def apply_keys(tx: StoreTx, changes: Sequence[Change]) -> list[str]:
        out = []
        for change in changes:
            try:
                c = msgspec.json.decode(change.payload, type=lo.TenantKeyChange)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise ChangeRejected(f"malformed {KIND} payload: {exc}") from exc
            cred = credential()
            if cred is None or (c.store_id, c.credential_key_id) != (cred.store_id, cred.key_id):
                out.append("sealed for another store or credential: skipped")
                continue
            try:
                key = pii.unwrap_for_store(c.wrapped, cred.secret, cred.tenant_id,
                                           cred.store_id, cred.key_id)
            except pii.PiiUnreadable as exc:
                raise ChangeRejected(str(exc)) from exc
            held = held_key(data_dir, config)
            if held == key:
                out.append("tenant key: already held")
                continue
            if held is not None:
                raise ChangeRejected(f"HQ sent a tenant key other than the one in "
                                     f"{config.key_file}; the store keeps its own")
            import_key(data_dir, config, key)
            installed(key)
            out.append("tenant key installed")
        return out

    return apply_keys  # type: ignore[return-value]
