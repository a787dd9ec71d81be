"""The scanner driver skeleton: a reader thread over a transport that feeds a decoder.

Subclasses implement `_make_transport` and `_feed(chunk) -> [(code, symbology)]`. Every decoded
code becomes a `Scan` with a fresh id, bumps the "scans" counter and goes to `on_scan`. A read
error (the device was unplugged, the pty closed) puts the scanner in error with
`communication_error`; the reader keeps trying to reopen, so a glitch heals by itself, and
discovery detaches the device if it is really gone.
"""

from __future__ import annotations

import threading
import time
import uuid
from abc import abstractmethod
from collections.abc import Callable
from typing import ClassVar

import structlog

from drivers.device import Device, DeviceFault, StatisticsSink
from drivers.transports import Transport, TransportError
from schemas.devices import DeviceAddress, DeviceKind, HealthLevel, HealthResult, Scan

log = structlog.get_logger("novapos.devices")

ScanHandler = Callable[[Scan], None]
READ_CHUNK_BYTES = 256
READ_TIMEOUT_S = 0.2
REOPEN_INTERVAL_S = 1.0
_LINK_CAUSES = {"not_connected", "communication_error", "timeout"}


class Scanner(Device):
    KIND: ClassVar[DeviceKind] = "barcode_scanner"

    def __init__(self, device_id: str, address: DeviceAddress,
                 statistics: StatisticsSink | None = None) -> None:
        super().__init__(device_id, address, statistics)
        self.on_scan: ScanHandler | None = None
        self._transport: Transport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def _make_transport(self) -> Transport: ...

    @abstractmethod
    def _feed(self, chunk: bytes) -> list[tuple[str, str | None]]:
        """Decode a chunk read from the transport; return the codes it completed."""

    def _reset_decoder(self) -> None:
        """Forget partial input (after a reconnect)."""

    # --- lifecycle ---------------------------------------------------------------------

    def open(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._transport = self._make_transport()
        self._connect()
        self._thread = threading.Thread(target=self._run, name=f"scanner-{self.device_id}",
                                        daemon=True)
        self._thread.start()

    def _connect(self, *, announce: bool = True) -> bool:
        """Open the link. A reconnect after an error does not announce the scanner ready:
        a node that opens but fails every read (a half-dead port) would otherwise flap
        between idle and error; the first good read announces it (`_link_works`)."""
        assert self._transport is not None
        try:
            self._transport.open()
        except TransportError as exc:
            if not self._in_outage():  # count the outage once, not every retry
                self.fault(DeviceFault("not_connected", str(exc)))
            return False
        self._reset_decoder()
        if announce:
            self._set("idle", "online", [], None)
        return True

    def _in_outage(self) -> bool:
        return self.state == "error" and bool(set(self._causes) & _LINK_CAUSES)

    def _link_works(self) -> None:
        if self.state == "error":
            self._set("idle", "online", [], None)

    def close(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
        if self._transport is not None:
            self._transport.close()
        self._set("closed", "off", [], None)

    def _run(self) -> None:
        transport = self._transport
        assert transport is not None
        while not self._stop.is_set():
            if not transport.is_open and (
                    self._stop.wait(REOPEN_INTERVAL_S) or not self._connect(announce=False)):
                continue
            try:
                chunk = transport.read(READ_CHUNK_BYTES, READ_TIMEOUT_S)
            except TransportError as exc:
                if exc.timeout:  # a quiet scanner: the link works
                    self._link_works()
                    continue
                if not self._stop.is_set():
                    if not self._in_outage():  # once per outage
                        self.fault(DeviceFault("communication_error", str(exc)))
                    transport.close()
                continue
            self._link_works()
            try:
                codes = self._feed(chunk)
            except Exception:
                log.exception("scanner could not decode input", device_id=self.device_id)
                continue
            for code, symbology in codes:
                self._emit(code, symbology)

    def _emit(self, code: str, symbology: str | None) -> None:
        scan = Scan(scan_id=uuid.uuid4().hex, device_id=self.device_id, code=code,
                    symbology=symbology, scanned_at_ms=time.time_ns() // 1_000_000)
        self.statistics.bump(self.device_id, "scans")
        handler = self.on_scan
        if handler is not None:
            try:
                handler(scan)
            except Exception:
                log.exception("scan handler failed", device_id=self.device_id)

    # --- health ------------------------------------------------------------------------

    def check_health(self, level: HealthLevel) -> HealthResult:
        """Scanners cannot be told to scan: every level checks that the link is open and the
        reader alive; `external` additionally asks for a scan within the status detail."""
        self.statistics.bump(self.device_id, "health_checks")
        alive = self._thread is not None and self._thread.is_alive()
        linked = self._transport is not None and self._transport.is_open
        ok = alive and linked and self.state != "error"
        causes = [] if ok else list(self.status().causes or ["not_connected"])
        detail = "link open, reader running" if ok else "scanner not reachable"
        if ok and level != "internal":
            detail += "; scan any bar code to confirm the optics"
        return HealthResult(self.device_id, level, ok, causes, detail)
