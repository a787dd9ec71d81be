"""Buy online, pick up in store: pickup orders from HQ, accepted by reserving stock, picked,
packed, made ready and handed over at a lane (docs/inventory.md#pickup-orders)."""
