"""Carts: a lane's open basket. Lines scanned by SKU or barcode with their prices locked
(`core.price_lock`), quantities, line and cart discounts, re-pricing; the cart view the lane
shows. `model` (the cart as loaded), `commands` (pure decisions and the writer commands),
`views`, `projection` (read models), `routes`, `settings` ([price_lock], [discounts])."""
