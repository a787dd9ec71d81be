"""A bundle from HQ (down-sync kind "promotions.bundle") becomes the active one only if it
verifies against the pinned HQ key (`core.promotions.bundle.verify`) and is newer than the
active one (the key: `[promotions] hq_public_key` if set, else the key pinned at enrollment,
`edge.promotions.keys`). A refused bundle changes nothing that runs: the previous bundle stays active, a
`promotions.bundle_refused` event records the reason and a sync alarm
("promotion_bundle_refused") names it, open until a good bundle is installed.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from core.promotions.bundle import BundleRefused, verify
from edge.promotions import book, keys
from edge.promotions.settings import PromotionsConfig
from edge.store.writer import Tx
from schemas import promotion_events as pe
from schemas import promotions as sp
from schemas.sync import Change
from sync.cursor import NOT_CLEARED_BY_UPLOAD, clear_alarm, raise_alarm
from sync.port import ChangeApplier

KIND = "promotions.bundle"
ALARM = "promotion_bundle_refused"
assert ALARM in NOT_CLEARED_BY_UPLOAD  # it stays open until a good bundle is installed
STREAM = "promotions"


def active_version(tx: Tx) -> int | None:
    rows = tx.conn.execute("SELECT active_version FROM promotion_state WHERE id = 1").fetchall()
    return rows[0][0] if rows else None


def install(tx: Tx, signed: sp.SignedBundle, pinned_public_b64: str, region: str = "") -> str:
    """One signed bundle: installed, ignored (not newer) or refused; the inbox's detail."""
    try:
        bundle = verify(signed, pinned_public_b64)
    except BundleRefused as exc:
        reason = str(exc)
        tx.append(pe.PromotionBundleRefused(reason=reason, key_id=signed.key_id),
                  stream=STREAM, lane_id=None)
        raise_alarm(tx.conn, ALARM, reason, None, tx.now_ms)
        return f"refused: {reason}"
    current = active_version(tx)
    if current is not None and bundle.version <= current:
        return f"bundle {bundle.version} is not newer than the active {current}; ignored"
    tx.append(pe.PromotionBundleInstalled(version=bundle.version, key_id=signed.key_id,
                                          rules=len(bundle.rules), signed=signed),
              stream=STREAM, lane_id=None)
    book.forget(tx)
    book.active(tx, region)  # compiled now, not by the first cart change that needs it
    clear_alarm(tx.conn, ALARM, tx.now_ms)
    clear_alarm(tx.conn, keys.ALARM, tx.now_ms)  # bundles verify again: the key is settled
    return f"installed bundle {bundle.version} ({len(bundle.rules)} rules)"


def applier(config: PromotionsConfig) -> ChangeApplier:
    def apply_bundles(tx: Tx, changes: Sequence[Change]) -> list[str]:  # type: ignore[override]
        out = []
        for change in changes:
            try:
                signed = msgspec.json.decode(change.payload, type=sp.SignedBundle)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                signed = sp.SignedBundle(key_id="", bundle_b64="", signature_b64="")
                reason = f"not a signed bundle: {exc}"
                tx.append(pe.PromotionBundleRefused(reason=reason), stream=STREAM, lane_id=None)
                raise_alarm(tx.conn, ALARM, reason, None, tx.now_ms)
                out.append(f"refused: {reason}")
                continue
            out.append(install(tx, signed, keys.effective(tx.conn, config).public_key_b64,
                               config.region))
        return out
    return apply_bundles  # type: ignore[return-value]
