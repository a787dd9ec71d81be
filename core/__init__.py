"""The shared core: pure rules more than one process needs (the store daemon, the sync engine,
the cloud relay). Money and rounding, pricing and tax, price lock, the hash chain, catalog
validation, time, ids, backoff, request signing, errors, idempotency, migrations, durable files
and logging. It imports `schemas` and libraries only, never `edge`, `sync`, `cloud_relay` or
`drivers`.
"""
