"""Catalog domain: barcode rules and validated, all-or-nothing catalog imports."""
