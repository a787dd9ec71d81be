"""The ESC/POS receipt printer driver (network, serial or USB; the transport is swappable).

Invariants:
- A job is sent only after a real-time status query (DLE EOT 1, 2, 4) says the printer can
  print; paper out, cover open, an error or no answer raise `DeviceFault` with that cause and
  nothing is sent, so the caller's job stays queued.
- After sending, the status is queried again; only when the printer answered and reports no
  blocking cause does `print_document` return (the queue then marks the job printed).
- Transport failures never escape as transport errors: the device moves to `error` with a
  cause (`not_connected`, `communication_error`, `offline` when the printer stays silent) and
  the next operation reconnects.
- The cash drawer is kicked through the printer (ESC p, or the real-time DLE DC4 pulse while
  the printer is stopped), and its open state read back from DLE EOT 1 with the polarity the
  printer's settings give. `drawer_kicks` counts pulses, `drawer_opens` observed openings.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.device import Device, DeviceFault, StatisticsSink
from drivers.escpos import document as doc
from drivers.escpos import status as st
from drivers.transports import Transport, TransportError
from schemas.devices import DeviceAddress, DeviceCause, HealthLevel, HealthResult
from schemas.printing import Cut, Document, Text

# Bytes left unread from an earlier, timed-out query are drained before a new one; bounded so
# a printer streaming garbage cannot hold the driver forever.
_MAX_DRAIN_BYTES = 4_096


@dataclass(frozen=True, slots=True)
class PrinterSettings:
    profile: str = doc.DEFAULT_PROFILE
    # The one code page all text is printed in (docs/printing.md); the profile must list it.
    code_page: doc.CodePage = doc.DEFAULT_CODE_PAGE
    columns: int = 42
    drawer_pin: int = 2
    # Pin 3 HIGH means "open" for drawers whose switch closes when the drawer shuts; others
    # are wired the other way round. Check with the drawer's manual (or `kick-drawer` + status).
    drawer_open_when_high: bool = False
    pulse_on_ms: int = 100
    pulse_off_ms: int = 200
    status_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        assert self.drawer_pin in (2, 5), self.drawer_pin
        assert 24 <= self.columns <= 64, self.columns
        assert 0 < self.status_timeout_s <= 30, self.status_timeout_s
        doc.code_page_number(self.profile, self.code_page)  # ValueError names what is wrong


class EscposPrinter(Device):
    KIND = "receipt_printer"
    DRIVER = "escpos"

    def __init__(
        self,
        device_id: str,
        address: DeviceAddress,
        transport: Transport,
        settings: PrinterSettings | None = None,
        statistics: StatisticsSink | None = None,
    ) -> None:
        super().__init__(device_id, address, statistics)
        self.transport = transport
        self.settings = settings or PrinterSettings()
        self._was_paper_out = False
        self._was_drawer_open = False

    # --- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Connect and read the status; never raises: a printer that is down is in `error`."""
        try:
            self.query_status()
        except DeviceFault:
            pass

    def close(self) -> None:
        with self._lock:
            self.transport.close()
            self._set("closed", "unknown", [])

    def _connected(self) -> None:
        if self.transport.is_open:
            return
        try:
            self.transport.open()
        except TransportError as exc:
            raise self._comm_fault("not_connected", str(exc)) from exc

    def _comm_fault(self, cause: DeviceCause, detail: str) -> DeviceFault:
        self.transport.close()
        fault = DeviceFault(cause, detail)
        self.fault(fault)
        return fault

    # --- status ----------------------------------------------------------------------------

    def _drain(self) -> None:
        drained = 0
        while drained < _MAX_DRAIN_BYTES:
            try:
                drained += len(self.transport.read(256, 0.001))
            except TransportError as exc:
                if exc.timeout:
                    return
                raise

    def _ask(self, n: int) -> int:
        self.transport.write(st.query(n))
        answer = self.transport.read_exactly(1, self.settings.status_timeout_s)
        return answer[0]

    def query_status(self) -> st.RealtimeStatus:
        """DLE EOT 1, 2, 4 → decoded status; updates the device state and statistics.

        Raises DeviceFault when the printer cannot be reached or does not answer."""
        with self._lock:
            self._connected()
            try:
                self._drain()
                answers = {n: self._ask(n) for n in st.QUERIES}
            except TransportError as exc:
                if exc.timeout:
                    # Connected but silent: the printer is off line (powered down behind a
                    # print server, hung, or a serial cable with nothing at the far end).
                    raise self._offline(
                        f"no answer to DLE EOT within {self.settings.status_timeout_s} s"
                    ) from exc
                raise self._comm_fault("communication_error", str(exc)) from exc
            try:
                decoded = st.decode(
                    answers[st.PRINTER_STATUS], answers[st.OFFLINE_CAUSE],
                    answers[st.PAPER_SENSOR],
                    drawer_open_when_high=self.settings.drawer_open_when_high,
                )
            except ValueError as exc:
                raise self._comm_fault("communication_error", str(exc)) from exc
            self._apply(decoded)
            return decoded

    def _offline(self, detail: str) -> DeviceFault:
        self.transport.close()
        self.statistics.bump(self.device_id, "communication_errors")
        self._set("error", "offline", ["offline"], detail)
        return DeviceFault("offline", detail)

    def _apply(self, decoded: st.RealtimeStatus) -> None:
        causes = decoded.causes()
        paper_out = "paper_out" in causes
        if paper_out and not self._was_paper_out:
            self.statistics.bump(self.device_id, "paper_outs")
        self._was_paper_out = paper_out
        # drawer_opens counts openings the printer saw (closed → open), kicks count pulses.
        if decoded.drawer_open and not self._was_drawer_open:
            self.statistics.bump(self.device_id, "drawer_opens")
        self._was_drawer_open = decoded.drawer_open
        if decoded.can_print:
            state = "busy" if self._state == "busy" else "idle"
            self._set(state, "online", causes, None)
        else:
            self._set("error", "online", causes, ", ".join(causes))

    def _require_ready(self) -> st.RealtimeStatus:
        decoded = self.query_status()
        if not decoded.can_print:
            blocking = [c for c in decoded.causes() if c in st.BLOCKING]
            raise DeviceFault(blocking[0], "printer reports " + ", ".join(decoded.causes()))
        return decoded

    # --- printing --------------------------------------------------------------------------

    def render(self, document: Document) -> doc.Rendered:
        return doc.render(document, self.settings.profile, self.settings.code_page)

    def print_document(self, document: Document) -> None:
        """Print or raise DeviceFault. Returns only when the bytes were written and the printer
        reports, after them, that it can still print."""
        rendered = self.render(document)
        data = rendered.data
        with self._lock:
            self._require_ready()
            self._set("busy", "online", self._causes)
            try:
                self.transport.write(data)
            except TransportError as exc:
                raise self._comm_fault("communication_error", str(exc)) from exc
            after = self._require_ready()
            self._set("idle", "online", after.causes())
        self.statistics.bump(self.device_id, "lines_printed", rendered.lines)
        if rendered.cuts:
            self.statistics.bump(self.device_id, "cuts", rendered.cuts)

    # --- cash drawer -----------------------------------------------------------------------

    def kick_drawer(self) -> None:
        """Pulse the drawer pin now. A cashier needs the drawer even when the paper ran out:
        a ready printer gets ESC p; one that answers but is stopped (paper out, cover open)
        gets the real-time pulse DLE DC4 1, which it executes without printing. A silent
        printer raises DeviceFault."""
        s = self.settings
        with self._lock:
            decoded = self.query_status()
            if decoded.can_print:
                data = doc.pulse_bytes(s.drawer_pin, s.pulse_on_ms, s.pulse_off_ms)
            else:
                data = doc.realtime_pulse_bytes(s.drawer_pin, s.pulse_on_ms)
            try:
                self.transport.write(data)
            except TransportError as exc:
                raise self._comm_fault("communication_error", str(exc)) from exc
        self.statistics.bump(self.device_id, "drawer_kicks")

    def drawer_is_open(self) -> bool:
        return self.query_status().drawer_open

    # --- health ----------------------------------------------------------------------------

    def check_health(self, level: HealthLevel) -> HealthResult:
        self.statistics.bump(self.device_id, "health_checks")
        try:
            if level == "internal":
                decoded = self.query_status()
                causes = decoded.causes()
                return HealthResult(self.device_id, level, decoded.can_print, causes,
                                    "status: " + (", ".join(causes) or "ready"))
            self.print_document(self.test_page())
            return HealthResult(self.device_id, level, True, self.status().causes,
                                "test page printed")
        except DeviceFault as fault:
            return HealthResult(self.device_id, level, False, [fault.cause], str(fault))

    def test_page(self) -> Document:
        width = self.settings.columns
        return Document([
            Text("NovaPOS Edge test print", align="center", bold=True),
            Text("-" * width),
            Text(f"printer {self.device_id}"),
            Text(f"address {self.address.key()}"),
            Text(f"columns {width}, profile {self.settings.profile}"),
            Text("-" * width),
            Cut(),
        ])
