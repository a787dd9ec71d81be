"""Device gauges on `/metrics`, read from the registry at scrape time (a custom collector, so
a detached device's series disappear with it instead of freezing at their last value).
Print queue depth is exported by the print service (`novapos_print_queue_depth{device_id}`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from schemas.devices import DeviceStatus, PrintQueueStatus

STATES = ("closed", "idle", "busy", "error")


class DeviceCollector(Collector):
    def __init__(self, statuses: Callable[[], list[DeviceStatus]],
                 queues: Callable[[], list[PrintQueueStatus]]) -> None:
        self._statuses = statuses
        self._queues = queues

    def describe(self) -> Iterable[GaugeMetricFamily]:
        # Registering must not read devices (the service is not started yet): names only.
        return [GaugeMetricFamily(n, d) for n, d in (
            ("novapos_device_state", "state"), ("novapos_device_up", "up"),
            ("novapos_device_cause", "cause"), ("novapos_print_jobs_failed", "failed"))]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        state = GaugeMetricFamily(
            "novapos_device_state", "1 for the state a device is in, 0 for the others",
            labels=["device_id", "kind", "state"])
        up = GaugeMetricFamily(
            "novapos_device_up", "1 when a supported device is usable (idle or busy)",
            labels=["device_id", "kind"])
        cause = GaugeMetricFamily(
            "novapos_device_cause", "1 for each cause a device currently reports",
            labels=["device_id", "kind", "cause"])
        for s in self._statuses():
            if s.kind == "unsupported":
                continue
            for name in STATES:
                state.add_metric([s.device_id, s.kind, name], 1.0 if s.state == name else 0.0)
            up.add_metric([s.device_id, s.kind], 1.0 if s.state in ("idle", "busy") else 0.0)
            for c in s.causes:
                cause.add_metric([s.device_id, s.kind, c], 1.0)
        failed = GaugeMetricFamily(
            "novapos_print_jobs_failed", "Print jobs given up (state failed), per printer",
            labels=["device_id"])
        for q in self._queues():
            failed.add_metric([q.device_id], float(q.failed))
        # Queue depth is printing's own gauge: novapos_print_queue_depth{device_id}.
        return [state, up, cause, failed]
