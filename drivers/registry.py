"""The device registry: which driver owns which attached device.

A discovery diff comes in; for every added descriptor the best-matching driver claims it (the
configured driver when the descriptor names one, else the highest `supported()` priority, ties
broken by driver name so the choice never depends on import order), and the driver is opened.
Descriptors no driver accepts are kept as "unsupported" entries with their ids, so the CLI can
list them. Removed descriptors close their driver. The registry never raises on a device's
behalf: a driver that fails to open is kept, in error with its cause.

Invariant: at most one entry (driver or unsupported) per address key, and device ids are
unique (a configured id, else `<transport>-<name>-<hash of the address key>`).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from drivers.device import Device, DeviceFault, StatisticsSink
from drivers.discovery import Diff
from schemas.devices import DeviceDescriptor, DeviceKind, DeviceStatus

log = structlog.get_logger("novapos.devices")


class ClaimingDriver(Protocol):
    """What a driver class offers the registry (classmethods on the Device subclass)."""

    DRIVER: str
    KIND: DeviceKind

    @classmethod
    def supported(cls, descriptor: DeviceDescriptor) -> int | None: ...

    @classmethod
    def from_descriptor(
        cls, device_id: str, descriptor: DeviceDescriptor, statistics: StatisticsSink
    ) -> Device: ...


@dataclass(frozen=True, slots=True)
class DriverSpec:
    """A driver as the registry sees it. `supported` answers a priority (higher wins) or None;
    `create` builds the (not yet opened) driver. Tests inject transports through `create`."""

    name: str
    kind: DeviceKind
    supported: Callable[[DeviceDescriptor], int | None]
    create: Callable[[str, DeviceDescriptor, StatisticsSink], Device]

    @classmethod
    def of(cls, driver: type) -> DriverSpec:
        return cls(driver.DRIVER, driver.KIND, driver.supported, driver.from_descriptor)


def best_driver(specs: Sequence[DriverSpec], descriptor: DeviceDescriptor) -> DriverSpec | None:
    """Pure: the driver that should claim `descriptor`, or None (unsupported)."""
    if descriptor.driver is not None:
        named = [s for s in specs if s.name == descriptor.driver]
        return named[0] if named else None
    ranked = []
    for spec in specs:
        priority = spec.supported(descriptor)
        if priority is not None:
            ranked.append((-priority, spec.name, spec))
    return min(ranked)[2] if ranked else None


_SLUG = re.compile(r"[^A-Za-z0-9]+")


def device_id_for(descriptor: DeviceDescriptor) -> str:
    """A stable, URL-safe id: the configured id, else one derived from the address key (the
    same device plugged in again gets the same id, so its binding and counters follow it)."""
    if descriptor.device_id:
        return descriptor.device_id
    a = descriptor.address
    if a.transport == "tcp":
        name = f"{a.host}-{a.port}"
    elif a.vendor_id is not None:
        name = f"{a.vendor_id:04x}-{a.product_id or 0:04x}"
    else:
        name = (a.path or "").rsplit("/", 1)[-1]
    digest = hashlib.sha1(descriptor.key().encode()).hexdigest()[:6]
    slug = _SLUG.sub("-", name).strip("-")[:40] or "device"
    return f"{a.transport}-{slug}-{digest}"


@dataclass(frozen=True, slots=True)
class Change:
    """One attach or detach the registry performed (the daemon logs and streams these)."""

    action: str  # "attached" | "detached"
    device_id: str
    kind: str  # a DeviceKind or "unsupported"
    driver: str | None
    descriptor: DeviceDescriptor


@dataclass(slots=True)
class _Unsupported:
    device_id: str
    descriptor: DeviceDescriptor
    since_ms: int

    def status(self, lane_id: str | None) -> DeviceStatus:
        d = self.descriptor
        label = " ".join(x for x in (d.manufacturer, d.product) if x) or None
        return DeviceStatus(
            device_id=self.device_id, kind="unsupported", driver=None, address=d.address,
            state="closed", power="unknown", causes=["unsupported"], lane_id=lane_id,
            statistics={}, since_ms=self.since_ms, detail=label,
        )


class Registry:
    def __init__(self, specs: Iterable[DriverSpec], statistics: StatisticsSink) -> None:
        self.specs = list(specs)
        self.statistics = statistics
        self._devices: dict[str, Device] = {}  # by device id
        self._unsupported: dict[str, _Unsupported] = {}
        self._by_key: dict[str, str] = {}  # address key -> device id
        self._descriptors: dict[str, DeviceDescriptor] = {}  # device id -> descriptor
        self._lock = threading.RLock()
        # Called for every device the registry opens (the daemon wires scan handlers here).
        self.on_open: Callable[[Device], None] | None = None

    # --- applying discovery ------------------------------------------------------------

    def apply(self, change: Diff) -> list[Change]:
        done: list[Change] = []
        for d in change.removed:
            c = self._detach(d)
            if c is not None:
                done.append(c)
        for d in change.added:
            c = self._attach(d)
            if c is not None:
                done.append(c)
        return done

    def _attach(self, descriptor: DeviceDescriptor) -> Change | None:
        key = descriptor.key()
        with self._lock:
            if key in self._by_key:
                return None
            device_id = device_id_for(descriptor)
            if device_id in self._descriptors:  # configured id reused by a second address
                device_id = f"{device_id}-{hashlib.sha1(key.encode()).hexdigest()[:6]}"
            spec = best_driver(self.specs, descriptor)
            self._by_key[key] = device_id
            self._descriptors[device_id] = descriptor
            if spec is None:
                self._unsupported[device_id] = _Unsupported(
                    device_id, descriptor, time.time_ns() // 1_000_000)
                log.info("device attached, unsupported", device_id=device_id, key=str(key))
                return Change("attached", device_id, "unsupported", None, descriptor)
            device = spec.create(device_id, descriptor, self.statistics)
            self._devices[device_id] = device
        if self.on_open is not None:
            self.on_open(device)
        try:
            device.open()
        except Exception as exc:
            log.exception("driver failed to open the device", driver=spec.name, device_id=device_id)
            device.fault(DeviceFault("communication_error", f"open failed: {exc}"))
        log.info("device attached", device_id=device_id, driver=spec.name, key=str(key))
        return Change("attached", device_id, spec.kind, spec.name, descriptor)

    def _detach(self, descriptor: DeviceDescriptor) -> Change | None:
        key = descriptor.key()
        with self._lock:
            device_id = self._by_key.pop(key, None)
            if device_id is None:
                return None
            self._descriptors.pop(device_id, None)
            unsupported = self._unsupported.pop(device_id, None)
            device = self._devices.pop(device_id, None)
        if unsupported is not None:
            log.info("device detached (unsupported)", device_id=device_id)
            return Change("detached", device_id, "unsupported", None, descriptor)
        assert device is not None
        try:
            device.close()
        except Exception:
            log.exception("closing a device failed", device_id=device_id)
        log.info("device detached", device_id=device_id)
        return Change("detached", device_id, device.KIND, device.DRIVER, descriptor)

    def close_all(self) -> None:
        with self._lock:
            devices = list(self._devices.values())
            self._devices.clear()
            self._unsupported.clear()
            self._by_key.clear()
            self._descriptors.clear()
        for device in devices:
            try:
                device.close()
            except Exception:
                log.exception("closing a device failed", device_id=device.device_id)

    # --- reading -------------------------------------------------------------------------

    def get(self, device_id: str) -> Device | None:
        with self._lock:
            return self._devices.get(device_id)

    def descriptor(self, device_id: str) -> DeviceDescriptor | None:
        with self._lock:
            return self._descriptors.get(device_id)

    def devices(self) -> list[Device]:
        with self._lock:
            return [self._devices[k] for k in sorted(self._devices)]

    def statuses(self, lanes: dict[str, str] | None = None) -> list[DeviceStatus]:
        """Every entry, supported or not, by device id; `lanes` maps device id -> bound lane."""
        lanes = lanes or {}
        with self._lock:
            devices = dict(self._devices)
            unsupported = dict(self._unsupported)
        out: list[DeviceStatus] = []
        for device_id in sorted({*devices, *unsupported}):
            if device_id in devices:
                dev = devices[device_id]
                dev.lane_id = lanes.get(device_id)
                out.append(dev.status())
            else:
                out.append(unsupported[device_id].status(lanes.get(device_id)))
        return out
