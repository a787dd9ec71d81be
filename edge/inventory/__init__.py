"""Store inventory: on-hand per SKU as a projection of stock events, receiving, transfers,
adjustments, blind cycle counts and reservations (docs/inventory.md)."""
