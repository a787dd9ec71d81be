"""Prometheus metrics of one daemon. A registry per service, so tests can run many side by side.

Bounded by construction: the request histogram is labelled by method (the HTTP methods the API
uses, anything else `other`), route TEMPLATE (`unmatched` for paths no route matches) and status
CLASS (`2xx` ... `5xx`), with few buckets, so no client, fuzzer or scanner can grow the number
of series. Process metrics (`process_*`) and `novapos_build_info` are registered on every
registry, as Prometheus' own clients do on their default one.
"""

from __future__ import annotations

import platform
import time
from importlib import metadata

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

class _ProcessCollector(ProcessCollector):
    """prometheus_client's `process_*` collector, which needs the boot time from /proc/stat and
    exports nothing without it; the systemd unit's `ProcSubset=pid` hides that file, so the
    boot time then comes from CLOCK_BOOTTIME (the same instant, up to the clock reads)."""

    def _boot_time(self) -> float:
        try:
            btime = super()._boot_time()
        except OSError:
            btime = None
        return btime or time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


# Request latency: what a lane notices (1 ms .. seconds), not a profile.
REQUEST_BUCKETS_S = (0.001, 0.005, 0.025, 0.1, 0.5, 2.5)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Card payments wait for a cardholder: seconds to minutes.
_PAYMENT_BUCKETS_S = _LATENCY_BUCKETS_S + (5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        _ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.build_info = Gauge(
            "novapos_build_info", "Version of the running daemon (always 1)",
            ["version", "python"], registry=r,
        )
        self.build_info.labels(_version(), platform.python_version()).set(1)
        self.request_seconds = Histogram(
            "novapos_http_request_duration_seconds",
            "HTTP request latency by method, route template and status class",
            ["method", "route", "status_class"], buckets=REQUEST_BUCKETS_S, registry=r,
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
        self.retention_runs_total = Counter(
            "novapos_retention_runs_total",
            "The daemon's daily retention runs, by outcome (removed, nothing, failed)",
            ["outcome"], registry=r,
        )
        self.retention_removed_total = Counter(
            "novapos_retention_removed_events_total",
            "Events the daemon's retention runs removed from the hot log", registry=r,
        )

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


def request_labels(method: str, route: str | None, status: int) -> tuple[str, str, str]:
    """The request histogram's labels: every one from a small, fixed set."""
    return (method if method in METHODS else "other", route or "unmatched",
            f"{status // 100}xx" if 100 <= status <= 599 else "5xx")


def _version() -> str:
    try:
        return metadata.version("novapos-edge")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
