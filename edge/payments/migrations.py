"""The payments domain's own schema steps (component "payments"), after the store's baseline
(which created the `payments` table)."""

from __future__ import annotations

from core.migrations import Migration

MIGRATIONS = [
    Migration(1, "payments.card_expiry: the card's expiry as the terminal reported it", """
    -- "YYMM" (ZVT BMP 0E), from the card of the payment's events at schema version 2. Never
    -- beside a whole PAN: card_masked_pan is masked. Payments recorded before keep NULL, which
    -- is what a replay of their version-1 events gives (the upcaster's "expiry": null).
    ALTER TABLE payments ADD COLUMN card_expiry TEXT;
    """),
]
