"""[sync]: the relay, the store's credential, batch limits, backoff and intervals
(docs/sync.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec


class SyncConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Upload of the log to the cloud relay and down-sync of catalog and settings.

    Sync runs when `relay_url` is set and the credential file exists (`novapos-edge sync
    enroll`). A relative `credential_file` or `tls_ca_file` is resolved in the data dir."""

    relay_url: str = ""
    credential_file: str = "sync-credential.json"
    # PEM bundle of the CA(s) that signed the relay's certificate; empty = system trust store.
    tls_ca_file: str = ""
    max_batch_events: Annotated[int, msgspec.Meta(ge=1, le=5_000)] = 5_000
    # Uncompressed, estimated from above; the relay refuses more than 8 MiB. Big batches
    # amortise the relay's per-batch commit (about 130 compressed bytes per sale on the wire).
    max_batch_bytes: Annotated[int, msgspec.Meta(ge=4_096, le=8 * 1024 * 1024)] = 8_000_000
    backoff_base_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 0.5
    backoff_cap_s: Annotated[float, msgspec.Meta(gt=0, le=3_600)] = 60.0
    # How often an idle engine looks for new events and for down-sync changes.
    poll_interval_s: Annotated[float, msgspec.Meta(gt=0, le=3_600)] = 2.0
    downsync_interval_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 30.0
    request_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 30.0
