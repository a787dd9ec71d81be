"""Promotion read models: installed bundles, the active one, the last refusal, and the local
coupon ledger (a coupon is redeemed by the sale that carried it)."""

from __future__ import annotations

import msgspec

from edge.store.projector import Registrations, audit_only
from schemas import events as ev
from schemas import promotion_events as pe
from schemas.envelope import Event

PROJECTIONS = Registrations()
TABLES = {
    "promotion_bundles": "version",
    "promotion_state": "id",
    "coupon_redemptions": "code, order_id",
    "order_line_promotions": "order_id, line_no, rule_id",
    "promotion_key": "id",
}


# A refused key is in the log and the sync alarm; nothing reads it from a table.
PROJECTIONS.on(pe.PromotionKeyRefused)(audit_only)


@PROJECTIONS.on(pe.PromotionKeyPinned)
def _pinned(conn, stored: Event, b: pe.PromotionKeyPinned) -> None:
    conn.execute("INSERT OR IGNORE INTO promotion_key(id, key_id, public_key_b64, source, "
                 "pinned_seq) VALUES (1, ?, ?, ?, ?)",
                 (b.key_id, b.public_key_b64, b.source, stored.seq))


@PROJECTIONS.on(pe.PromotionBundleInstalled)
def _installed(conn, stored: Event, b: pe.PromotionBundleInstalled) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO promotion_bundles(version, key_id, rules, signed, installed_seq) "
        "VALUES (?,?,?,?,?)",
        (b.version, b.key_id, b.rules, msgspec.json.encode(b.signed), stored.seq))
    conn.execute(
        "INSERT INTO promotion_state(id, active_version) VALUES (1, ?) "
        "ON CONFLICT(id) DO UPDATE SET active_version = excluded.active_version", (b.version,))


@PROJECTIONS.on(pe.PromotionBundleRefused)
def _refused(conn, stored: Event, b: pe.PromotionBundleRefused) -> None:
    conn.execute(
        "INSERT INTO promotion_state(id, refused_reason, refused_version, refused_at_ms) "
        "VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET refused_reason = excluded."
        "refused_reason, refused_version = excluded.refused_version, refused_at_ms = "
        "excluded.refused_at_ms", (b.reason, b.version, stored.recorded_at_ms))


@PROJECTIONS.on(ev.SaleCompleted)
def _redeemed(conn, stored: Event, s: ev.SaleCompleted) -> None:
    for ln in s.lines:
        for p in ln.promotions:
            conn.execute("INSERT INTO order_line_promotions(order_id, line_no, rule_id, name, "
                         "discount_minor) VALUES (?,?,?,?,?)",
                         (s.order_id, ln.line_no, p.rule_id, p.name, p.discount_minor))
    for code in s.coupons:
        conn.execute("INSERT OR IGNORE INTO coupon_redemptions(code, order_id, redeemed_at_ms) "
                     "VALUES (?,?,?)", (code, s.order_id, s.completed_at_ms))
