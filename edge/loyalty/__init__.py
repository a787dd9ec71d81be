"""Loyalty at the edge: customers cached from HQ (found by keyed hash, personal data sealed),
points earned on a sale, burned as a tender, clawed back on a refund, and HQ's erasures
applied by destroying the customer's data key. docs/loyalty.md."""
