"""What promotions gave each line of a sold order (read by the order view and the receipt)."""

from __future__ import annotations

import apsw

from schemas import api


def of_order(conn: apsw.Connection, order_id: str) -> dict[int, list[api.LinePromotionView]]:
    out: dict[int, list[api.LinePromotionView]] = {}
    for line_no, rule_id, name, d in conn.execute(
            "SELECT line_no, rule_id, name, discount_minor FROM order_line_promotions "
            "WHERE order_id = ? ORDER BY line_no, rule_id", (order_id,)):
        out.setdefault(line_no, []).append(api.LinePromotionView(rule_id, name, d))
    return out
