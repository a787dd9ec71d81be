"""Cloud relay: accepts store batches, dedupes them into the HQ ledger, serves it by cursor."""
