"""Promotions at the store: the active signed bundle, the local coupon ledger, and the
evaluation of a cart's lines under it (`core.promotions`, the code HQ simulates with)."""
