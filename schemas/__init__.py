"""Wire and event contracts shared by the edge daemon, drivers, sync engine and cloud relay.

Nothing outside this package defines a JSON shape. Every event body carries an explicit
schema version (see `schemas.events`); API structs are versioned by the `/v1` prefix.
"""
