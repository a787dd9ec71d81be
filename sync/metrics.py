"""Prometheus metrics of the sync engine, registered on the daemon's own registry (so they
appear on its /metrics next to the checkout metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class SyncMetrics:
    @classmethod
    def of(cls, registry: CollectorRegistry) -> SyncMetrics:
        """The sync metrics of a registry, created once: an engine restarted inside the same
        daemon (or test) keeps counting on the same series."""
        existing = getattr(registry, "_novapos_sync_metrics", None)
        if existing is None:
            existing = cls(registry)
            registry._novapos_sync_metrics = existing  # type: ignore[attr-defined]
        return existing

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.lag_events = Gauge(
            "novapos_sync_lag_events", "Events in the store log the relay has not acked", registry=r)
        self.outbox_events = Gauge(
            "novapos_sync_outbox_events", "Events not yet in a batch sent to the relay", registry=r)
        self.acked_seq = Gauge("novapos_sync_acked_seq", "Upload cursor: highest acked seq",
                               registry=r)
        # A timestamp, not an age: Prometheus computes the age (`time() - ...`) at query time,
        # and an alert on it keeps working while the daemon itself is stuck.
        self.last_success_s = Gauge(
            "novapos_sync_last_success_timestamp_seconds",
            "Unix time the relay last acked a batch or answered an idle round (0: not since "
            "the daemon started)", registry=r)
        self.batches_sent = Counter("novapos_sync_batches_sent_total",
                                    "Batch requests sent (retries included)", registry=r)
        self.batches_acked = Counter("novapos_sync_batches_acked_total",
                                     "Batches acked by the relay", registry=r)
        self.batches_refused = Counter("novapos_sync_batches_refused_total",
                                       "Batches refused by the relay", ["reason"], registry=r)
        self.events_acked = Counter("novapos_sync_events_acked_total",
                                    "Events the cursor advanced over", registry=r)
        self.bytes_sent = Counter("novapos_sync_bytes_sent_total",
                                  "Compressed batch bytes sent (retries included)", registry=r)
        self.failures = Counter("novapos_sync_failures_total",
                                "Rounds that ended in an error and a backoff", registry=r)
        self.alarm = Gauge("novapos_sync_alarm", "Open sync alarms by reason", ["reason"],
                           registry=r)
        self.changes_applied = Counter("novapos_sync_changes_applied_total",
                                       "Down-sync changes applied", ["kind", "status"], registry=r)
        self.backoff_s = Gauge("novapos_sync_backoff_seconds",
                               "Current wait before the next attempt after a failure", registry=r)
