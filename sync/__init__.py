"""Sync engine: ships the store's event log to the cloud relay in idempotent batches and
brings catalog, prices and configuration down."""
