"""The promotion fields on sales are optional and omitted when empty: a sale without
promotions encodes to exactly the bytes older releases wrote (the hash chain covers them)."""

from __future__ import annotations

import json
from pathlib import Path

from schemas import events as ev

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "events_v1.jsonl"


def test_an_old_sale_reencodes_byte_for_byte() -> None:
    sales = [json.loads(line) for line in GOLDEN.read_text().splitlines()
             if json.loads(line)["type"] == "sale.completed"]
    assert sales
    for line in sales:
        raw = json.dumps(line["body"], separators=(",", ":")).encode()
        body = ev.decode_body("sale.completed", 1, raw)
        assert isinstance(body, ev.SaleCompleted)
        assert body.promotion_bundle_version is None and body.coupons == ()
        assert all(ln.promotions == () and ln.promotion_minor == 0 for ln in body.lines)
        assert ev.encode_body(body) == raw
