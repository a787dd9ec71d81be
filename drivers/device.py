"""The one device model every driver implements (receipt printer, scanner, drawer, terminal).

Lifecycle after UnifiedPOS: `open` (connect the transport) → `claim` (exclusive use) →
`enable` → use → `close`. A driver owns its state machine and reports it through `status()`;
it never raises transport errors at its callers without first moving to `error` with a cause.
Statistics are counted through a `StatisticsSink`, which the daemon backs with SQLite so the
counters survive restarts.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from typing import ClassVar, Protocol

from schemas.devices import (
    STATISTICS,
    DeviceAddress,
    DeviceCause,
    DeviceKind,
    DeviceState,
    DeviceStatus,
    HealthLevel,
    HealthResult,
    PowerState,
)


class DeviceFault(Exception):
    """A device could not do what was asked; `cause` says why in the model's words."""

    def __init__(self, cause: DeviceCause, detail: str = "") -> None:
        super().__init__(f"{cause}: {detail}" if detail else cause)
        self.cause: DeviceCause = cause
        self.detail = detail


class StatisticsSink(Protocol):
    def bump(self, device_id: str, name: str, by: int = 1) -> None: ...
    def snapshot(self, device_id: str) -> dict[str, int]: ...


class MemoryStatistics:
    """In-process counters: for tools and tests that do not need persistence."""

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def bump(self, device_id: str, name: str, by: int = 1) -> None:
        if name not in STATISTICS:
            raise ValueError(f"unknown statistic {name!r}")
        with self._lock:
            per = self._counts.setdefault(device_id, {})
            per[name] = per.get(name, 0) + by

    def snapshot(self, device_id: str) -> dict[str, int]:
        with self._lock:
            return dict(self._counts.get(device_id, {}))


class Device(ABC):
    """Base of every driver. Subclasses set `KIND` and `DRIVER` and implement the hooks."""

    KIND: ClassVar[DeviceKind]
    DRIVER: ClassVar[str]

    def __init__(
        self,
        device_id: str,
        address: DeviceAddress,
        statistics: StatisticsSink | None = None,
    ) -> None:
        self.device_id = device_id
        self.address = address
        self.lane_id: str | None = None
        self.statistics: StatisticsSink = statistics or MemoryStatistics()
        self._state: DeviceState = "closed"
        self._power: PowerState = "unknown"
        self._causes: list[DeviceCause] = []
        self._detail: str | None = None
        self._since_ms = time.time_ns() // 1_000_000
        self._lock = threading.RLock()

    # --- state reporting -------------------------------------------------------------------

    def _set(
        self,
        state: DeviceState,
        power: PowerState | None = None,
        causes: list[DeviceCause] | None = None,
        detail: str | None = None,
    ) -> None:
        with self._lock:
            was_online = self._power == "online"
            changed = state != self._state or (causes is not None and causes != self._causes)
            self._state = state
            if power is not None:
                self._power = power
                if power == "online" and not was_online:
                    self.statistics.bump(self.device_id, "online_transitions")
            if causes is not None:
                self._causes = list(causes)
            self._detail = detail
            if changed:
                self._since_ms = time.time_ns() // 1_000_000

    def fault(self, exc: DeviceFault) -> None:
        """Record a fault as the device's current error."""
        if exc.cause in ("communication_error", "timeout", "not_connected"):
            self.statistics.bump(self.device_id, "communication_errors")
            power: PowerState = "offline"
        else:
            power = "online"
        self._set("error", power, [exc.cause], exc.detail or None)

    @property
    def state(self) -> DeviceState:
        return self._state

    def status(self) -> DeviceStatus:
        with self._lock:
            return DeviceStatus(
                device_id=self.device_id,
                kind=self.KIND,
                driver=self.DRIVER,
                address=self.address,
                state=self._state,
                power=self._power,
                causes=list(self._causes),
                lane_id=self.lane_id,
                statistics=self.statistics.snapshot(self.device_id),
                since_ms=self._since_ms,
                detail=self._detail,
            )

    # --- lifecycle --------------------------------------------------------------------------

    @abstractmethod
    def open(self) -> None:
        """Connect the transport and claim the device; leaves it idle or in error."""

    @abstractmethod
    def close(self) -> None:
        """Release the transport; the device is closed afterwards."""

    @abstractmethod
    def check_health(self, level: HealthLevel) -> HealthResult:
        """internal = driver self-test (status query); external = visible action (test print)."""
