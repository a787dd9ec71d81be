"""The relay's storage interface: `Storage`, which every backend (`sqlite`, `postgres`)
completes with its hooks (`backend.Backend`).

All relay state lives in the database, so relay processes are stateless per request and
several can run side by side on one PostgreSQL. The SQL of every operation is written once,
with `?` placeholders, in the module that owns it:

- `credentials`: enrolled stores and HQ tokens (who may call);
- `ingest`: a store's batches and its watermark (the upload side);
- `ledger`: HQ's reads (pages, events by type, quarantine, sync status);
- `publish`: down-sync changes HQ publishes for the stores;
- `loyalty`: tenant loyalty keys, customers and the points ledger;
- `replay`: the store signatures seen inside the skew window (refusing a replayed request);
- `schema`: the tables, written once for both dialects, and the relay epoch.

Each module's docstring states its invariants; the one they share: a write is one
transaction, committed before anything is answered.
"""

from __future__ import annotations

from cloud_relay.storage.credentials import Credentials
from cloud_relay.storage.ingest import Ingest
from cloud_relay.storage.ledger import Ledger
from cloud_relay.storage.pickup import PickupOrders
from cloud_relay.storage.loyalty import LoyaltyStore
from cloud_relay.storage.publish import Publish
from cloud_relay.storage.replay import Replays


class Storage(Credentials, Ingest, Ledger, LoyaltyStore, Publish, Replays, PickupOrders):
    """Everything the relay keeps, over one backend's transactions."""
