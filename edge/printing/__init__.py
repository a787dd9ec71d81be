"""Receipt printing: layout (`render`), the persisted job queue (`queue`), per-printer workers
(`worker`) and the store-facing `service.PrintService`."""
