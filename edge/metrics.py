"""Prometheus metrics of one daemon. A registry per service, so tests can run many side by side."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Card payments wait for a cardholder: seconds to minutes.
_PAYMENT_BUCKETS_S = _LATENCY_BUCKETS_S + (5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.request_seconds = Histogram(
            "novapos_http_request_duration_seconds", "HTTP request latency by route",
            ["method", "route", "status"], buckets=_LATENCY_BUCKETS_S, registry=r,
        )
        self.sale_commit_seconds = Histogram(
            "novapos_sale_commit_duration_seconds",
            "Time from a complete request reaching the writer to its durable commit",
            buckets=_LATENCY_BUCKETS_S, registry=r,
        )
        self.events_total = Counter(
            "novapos_events_appended_total", "Events appended to the store log", ["type"], registry=r
        )
        self.idempotent_replays_total = Counter(
            "novapos_idempotent_replays_total", "Responses replayed for a repeated Idempotency-Key",
            registry=r,
        )
        self.commit_batch_size = Histogram(
            "novapos_writer_batch_commands", "Commands committed together by one fsync",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r,
        )
        self.commit_seconds = Histogram(
            "novapos_writer_commit_duration_seconds", "Duration of one group commit",
            buckets=_LATENCY_BUCKETS_S, registry=r,
        )
        self.fast_lane_total = Counter(
            "novapos_fast_lane_requests_total",
            "Requests of the hot routes served by the fast lane (the rest went the framework's way)",
            ["method", "route"], registry=r,
        )
        self.sales_total = Counter("novapos_sales_completed_total", "Sales completed", registry=r)
        self.event_log_head = Gauge("novapos_event_log_head_seq", "Highest event seq", registry=r)

        # --- payments (edge.tender) ----------------------------------------------------------
        self.payment_seconds = Histogram(
            "novapos_payment_duration_seconds",
            "Tender step latency, from the request reaching the tender logic to its recorded "
            "outcome, by tender type and outcome",
            ["tender_type", "outcome"], buckets=_PAYMENT_BUCKETS_S, registry=r,
        )
        self.payments_total = Counter(
            "novapos_payments_total", "Payments that reached an outcome",
            ["tender_type", "outcome"], registry=r,
        )
        self.stored_offline_count = Gauge(
            "novapos_payments_stored_offline", "Card payments stored offline, not yet forwarded",
            registry=r,
        )
        self.stored_offline_minor = Gauge(
            "novapos_payments_stored_offline_minor",
            "Amount (minor units) of card payments stored offline, not yet forwarded", registry=r,
        )
        self.forward_declined_total = Counter(
            "novapos_payments_forward_declined_total",
            "Stored card payments declined after forwarding (or expired): follow-ups", registry=r,
        )
        self.reconciled_total = Counter(
            "novapos_payments_reconciled_total",
            "Pending payments resolved by asking the terminal, by resulting state",
            ["state"], registry=r,
        )
