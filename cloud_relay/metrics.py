"""Prometheus metrics of one relay process (`GET /metrics`). A registry per app, so tests can
run several relays in one process. Counters are per process: scrape every relay process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

_INGEST_BUCKETS_S = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RelayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.batches_total = Counter(
            "novapos_relay_batches_total",
            "Batch uploads by outcome: acked, replayed, or the refusal reason / problem slug",
            ["outcome"], registry=r)
        self.events_stored_total = Counter(
            "novapos_relay_events_stored_total", "Events newly stored", registry=r)
        self.events_quarantined_total = Counter(
            "novapos_relay_events_quarantined_total",
            "Events stored but not interpretable by this relay build", registry=r)
        self.ingest_seconds = Histogram(
            "novapos_relay_ingest_duration_seconds",
            "From a batch's bytes received to its durable commit", buckets=_INGEST_BUCKETS_S,
            registry=r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
