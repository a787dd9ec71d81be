"""What `novapos-edge sync status` (and `sync.status.sync_status()`) report about a store's
sync with the cloud relay. Times are epoch ms; ages and waits are seconds."""

from __future__ import annotations

import msgspec


class SyncAlarmView(msgspec.Struct, frozen=True):
    reason: str  # a refusal reason ("gap", "chain_mismatch", ...) or an engine reason
    detail: str
    seq: int | None
    raised_at_ms: int
    last_seen_at_ms: int
    count: int
    open: bool


class SyncStatus(msgspec.Struct, frozen=True):
    configured: bool  # relay URL and credential present
    relay_url: str
    store_id: str
    head_seq: int  # the store's own log head
    acked_seq: int  # upload cursor: the relay acked everything up to here
    lag_events: int  # head_seq - acked_seq
    frozen_batch: str | None  # the batch in flight (frozen before its first send)
    relay_high_seq: int | None  # the relay's watermark as last seen
    relay_epoch: str | None
    relay_seen_at_ms: int | None
    last_success_at_ms: int | None
    last_success_age_s: float | None
    consecutive_failures: int
    last_error: str | None
    last_error_at_ms: int | None
    next_attempt_in_s: float | None  # backoff wait (known only inside the running daemon)
    applied_change_id: int  # down-sync cursor
    changes_rejected: int
    quarantined_events: int
    open_alarms: int
    alarms: list[SyncAlarmView]
    # The seq at which the store's own log fails its hash chain (alarm `chain_broken`): the
    # events before it are uploaded, none from it on. None: no break found.
    chain_broken_at_seq: int | None = None
    # Down-sync changes held because this release does not know their kind (alarm
    # `change_kind_unknown`): applied once the store runs a release that does.
    changes_held: int = 0
    held_change_kinds: list[str] = []
