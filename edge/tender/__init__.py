"""Tender: taking a cart's tenders. Cash, vouchers and "other" in one step; cards through the
store's payment terminal (`service`: intent committed before the first byte, result after,
reconciliation after a crash, offline store-and-forward within `offline` policy). Removing a
tender voids its payment; voiding a cart releases its holds. `commands` (in the writer),
`projection` (the voucher ledger), `routes`, `settings` ([tender]). docs/tender.md."""
