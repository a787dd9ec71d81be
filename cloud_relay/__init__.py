"""Cloud relay: accepts store batches, dedupes them into the HQ ledger, serves it by cursor."""

__version__ = "0.1.0"
