"""What the store runs, for the lane, `novapos-edge` and the health page."""

from __future__ import annotations

import apsw

from core.promotions.bundle import key_id_of
from edge.promotions import keys
from edge.promotions.settings import PromotionsConfig
from schemas import promotions as sp


def of(conn: apsw.Connection, config: PromotionsConfig = PromotionsConfig()) -> sp.BundleStatus:
    rows = conn.execute(
        "SELECT s.active_version, b.rules, b.key_id, s.refused_reason, s.refused_at_ms "
        "FROM promotion_state s LEFT JOIN promotion_bundles b ON b.version = s.active_version "
        "WHERE s.id = 1").fetchall()
    verify = keys.effective(conn, config)
    verify_id = key_id_of(verify.public_key_b64) if verify.public_key_b64 else None
    if not rows:
        return sp.BundleStatus(active_version=None, rules=0, key_id=None,
                               verify_key_id=verify_id, verify_key_source=verify.source)
    version, rules, key_id, reason, at_ms = rows[0]
    return sp.BundleStatus(active_version=version, rules=rules or 0, key_id=key_id,
                           last_refused_reason=reason, last_refused_at_ms=at_ms,
                           verify_key_id=verify_id, verify_key_source=verify.source)
