"""DeviceService: the hardware layer inside the daemon.

Owns the registry's lifecycle (poll → diff → claim/close), writes `device.attached` /
`device.detached` to the log and publishes them with state changes and scans on the live
stream, keeps lane bindings (persisted) and device statistics (persisted, see `statistics`),
turns scans into cart lines for the bound lane, and issues the local admin credential.

Threads: drivers run their own reader/status threads; everything they report is handed to
the event loop (`call_soon_threadsafe`) before it touches the store writer or the stream.
Enumeration and driver open/close run in worker threads so a slow bus never stalls requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
from collections.abc import Sequence

import structlog

from core.errors import ConfigError, DomainError, InvalidInput, NotFound
from drivers.device import Device, DeviceFault
from drivers.discovery import Interface
from drivers.discovery.hid import HidInterface
from drivers.discovery.network import NetworkInterface
from drivers.discovery.poller import Poller
from drivers.discovery.serial import SerialInterface, SerialRule
from drivers.discovery.usb import UsbInterface
from drivers.escpos import EscposPrinter
from drivers.registry import Change, DriverSpec, Registry
from drivers.scanners.base import Scanner
from drivers.scanners.hid import HidPosScanner, WedgeScanner
from drivers.scanners.serial import SerialScanner
from edge.carts.model import Policy
from edge.devices import admin, bindings, printers, terminal
from edge.devices.hub import EventHub
from edge.devices.metrics import DeviceCollector
from edge.devices.scan_to_cart import add_scan
from edge.devices.settings import DevicesConfig
from edge.devices.statistics import SqliteStatistics
from edge.errors import UnknownItem
from edge.lanes import Principal
from edge.printing.service import PrintService
from edge.store.kernel import Store
from edge.store.writer import Tx
from edge.tender.terminals import Terminals
from schemas import events as ev
from schemas.devices import (
    Binding,
    DeviceAddress,
    DeviceDescriptor,
    DeviceList,
    DeviceStatus,
    HealthLevel,
    HealthResult,
    PrintQueueStatus,
    Scan,
    ScanNotice,
)
from schemas.printing import PrintJobView

log = structlog.get_logger("novapos.devices")


class DeviceUnavailable(DomainError):
    status, slug, title, exit_code = 409, "device-unavailable", "The device cannot do that now", 1

DEVICE_STREAM = "devices"
STATE_CHECK_INTERVAL_S = 0.25


def default_specs(printing: PrintService) -> list[DriverSpec]:
    return [DriverSpec.of(SerialScanner), DriverSpec.of(HidPosScanner),
            DriverSpec.of(WedgeScanner), printers.spec(printing)]


def build_interfaces(cfg: DevicesConfig, printing: PrintService,
                     extra_network: Sequence[DeviceDescriptor] = ()) -> list[Interface]:
    """The interfaces for this configuration, including the configured printers and
    `extra_network` (the payment terminals)."""
    net_printers, serial_printers, usb_printers = printers.discovery_entries(printing)
    rules = [SerialRule(d.path, d.driver, d.id, dict(d.options))
             for d in cfg.configured if d.path is not None]
    rules += serial_printers
    rules += [SerialRule(pattern) for pattern in cfg.serial_globs]
    # The payments' terminals first: a configured entry at a terminal's address must not claim
    # it with a driver of its own (a ZVT terminal takes one ECR connection).
    network = list(extra_network) + [
        DeviceDescriptor(interface="network",
                         address=DeviceAddress(transport="tcp", host=d.host, port=d.port),
                         driver=d.driver, device_id=d.id, options=dict(d.options))
        for d in cfg.configured if d.host is not None
    ] + net_printers
    out: list[Interface] = [SerialInterface(rules, list_system_ports=cfg.serial_system_ports)]
    if network:
        out.append(NetworkInterface(network))
    if cfg.usb:
        out.append(UsbInterface(configured=usb_printers))
    if cfg.hid:
        out.append(HidInterface())
    return out


class DeviceService:
    def __init__(self, store: Store, config: DevicesConfig, *, policy: Policy,
                 printing: PrintService, terminals: Terminals, statistics: SqliteStatistics,
                 terminal_status_timeout_s: float, specs: Sequence[DriverSpec] | None = None,
                 interfaces: Sequence[Interface] | None = None) -> None:
        self.store = store
        self.config = config
        self.policy = policy
        self.statistics = statistics
        self.printing = printing
        # The payments' terminals: each driver is listed and watched like any device (the
        # registry shares the payments' driver objects: one ECR connection per terminal).
        self.terminals = terminals
        self.terminal_watches = {
            link.device.device_id: terminal.TerminalWatch(
                link, config.terminal_poll_s, terminal_status_timeout_s)
            for link in terminals if link.device is not None}
        self.registry = Registry(
            specs if specs is not None
            else [*default_specs(self.printing), terminal.spec(terminals)],
            self.statistics)
        known = {s.name for s in self.registry.specs}
        for d in self.config.configured:
            if d.driver not in known:
                raise ConfigError(f"device {d.id}: unknown driver {d.driver!r} "
                                  f"(known: {', '.join(sorted(known))})")
        # Built at start when not given: demo mode adds its printer after construction.
        self._interfaces = interfaces
        self.poller = Poller(interfaces or [])
        self.hub = EventHub()
        self.bindings: dict[str, Binding] = {}
        self.admin_token: str | None = None
        self.registry.on_open = self._wire
        # Receipts follow the lane bindings made here (before [printing] lanes).
        self.printing.bound_printer = self._bound_printer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task] = []
        self._inflight: set[asyncio.Task] = set()
        self._poll_lock = asyncio.Lock()
        self._last_state: dict[str, tuple] = {}
        store.metrics.registry.register(DeviceCollector(self.statuses, self.print_queues))

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.sleep(0)  # let the writer task (created just before us) start serving
        if self._interfaces is None:
            self.poller.interfaces = build_interfaces(
                self.config, self.printing, terminal.discovery_entries(self.terminals))
        self.admin_token = admin.issue(self.store.data_dir)
        self.statistics.load(self.store.reader)
        self.bindings = bindings.load_all(self.store.reader)
        self._tasks.append(asyncio.create_task(self._flush_loop(), name="device-statistics"))
        if self.config.enabled:
            self._tasks.append(asyncio.create_task(self._poll_loop(), name="device-poll"))
            self._tasks.append(asyncio.create_task(self._state_loop(), name="device-state"))
            for device_id, watch in self.terminal_watches.items():
                self._tasks.append(asyncio.create_task(watch.run(),
                                                       name=f"terminal-watch-{device_id}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await asyncio.to_thread(self.registry.close_all)
        for task in list(self._inflight):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=5)
        await self.flush_statistics()
        self.hub.close_all()
        if self.admin_token is not None:
            admin.revoke(self.store.data_dir, self.admin_token)

    # --- hot-plug --------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        while True:
            try:
                await self.poll_now()
            except Exception:
                log.exception("device poll failed")
            await asyncio.sleep(self.config.poll_interval_s)

    async def poll_now(self) -> list[Change]:
        """One poll: enumerate, diff, claim/close, log and publish what changed."""
        async with self._poll_lock:
            change = await asyncio.to_thread(self.poller.poll_once)
            if not change:
                return []
            changes = await asyncio.to_thread(self.registry.apply, change)
            if changes:
                await self._record(changes)
            return changes

    def _configured_lane(self, d: DeviceDescriptor) -> str | None:
        """The `lane_id` of the configured entry this device came from, if any."""
        for entry in self.config.configured:
            if entry.lane_id is None:
                continue
            a = d.address
            if entry.host is not None and (a.host, a.port) == (entry.host, entry.port):
                return entry.lane_id
            if entry.path is not None and a.path is not None and (
                    a.path == entry.path or fnmatch.fnmatchcase(a.path, entry.path)):
                return entry.lane_id
        return None

    async def _record(self, changes: list[Change]) -> None:
        def command(tx: Tx) -> None:
            for c in changes:
                if c.action == "attached" and (lane := self._configured_lane(c.descriptor)):
                    bindings.bind_if_unbound(tx, c.device_id, lane)
                lane = self._lane_of(c.device_id)
                d = c.descriptor
                label = " ".join(x for x in (d.manufacturer, d.product) if x) or None
                body: ev.EventBody
                if c.action == "attached":
                    body = ev.DeviceAttached(device_id=c.device_id, kind=c.kind, driver=c.driver,
                                             address=d.address, product=label)
                else:
                    body = ev.DeviceDetached(device_id=c.device_id, kind=c.kind, address=d.address)
                tx.append(body, stream=DEVICE_STREAM, lane_id=lane)

        try:
            await self.store.writer.run(command)
        except DomainError:
            log.exception("could not log device changes")
        self.bindings = bindings.load_all(self.store.reader)
        for c in changes:
            payload = {"device_id": c.device_id, "kind": c.kind, "driver": c.driver,
                       "address": c.descriptor.address, "product": c.descriptor.product}
            self.hub.publish(f"device.{c.action}", payload, self._lane_of(c.device_id))
            if c.action == "detached":
                self._last_state.pop(c.device_id, None)

    async def _state_loop(self) -> None:
        while True:
            try:
                self.publish_state_changes()
            except Exception:
                log.exception("device state check failed")
            await asyncio.sleep(min(STATE_CHECK_INTERVAL_S, self.config.poll_interval_s))

    def publish_state_changes(self) -> None:
        for s in self.statuses():
            if s.kind == "unsupported":
                continue
            sig = (s.state, s.power, tuple(s.causes), s.detail)
            if self._last_state.get(s.device_id) != sig:
                self._last_state[s.device_id] = sig
                self.hub.publish("device.state", s, s.lane_id)

    # --- statistics ------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.statistics_flush_s)
            await self.flush_statistics()

    async def flush_statistics(self) -> None:
        if not self.statistics.has_pending():
            return
        command, done = self.statistics.flush_command()
        try:
            await self.store.writer.run(command)
        except Exception:
            done(False)
            log.exception("device statistics flush failed")
        else:
            done(True)

    # --- scans -----------------------------------------------------------------------------

    def _wire(self, device: Device) -> None:
        if isinstance(device, Scanner):
            device.on_scan = self._scan_from_driver

    def _scan_from_driver(self, scan: Scan) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._spawn_scan, scan)

    def _spawn_scan(self, scan: Scan) -> None:
        task = asyncio.create_task(self.handle_scan(scan), name=f"scan-{scan.scan_id}")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def handle_scan(self, scan: Scan) -> ScanNotice:
        """Route a scan to its lane (and its open cart). Safe to call twice with one scan."""
        binding = self.bindings.get(scan.device_id)
        if binding is None:
            notice = ScanNotice(scan, None, "no_lane", detail="the scanner is not bound to a lane")
            self.hub.publish("scan", notice, None)
            return notice
        adds = binding.scan_adds_to_cart
        if adds is None:
            adds = self.config.scan_adds_to_cart
        if not adds:
            notice = ScanNotice(scan, binding.lane_id, "not_added")
        else:
            ident = self.store.identity
            who = Principal(ident.tenant_id, ident.store_id, binding.lane_id, "cashier",
                            f"device:{scan.device_id}")
            policy = self.policy
            try:
                cart_id, replayed = await self.store.writer.run(
                    lambda tx: add_scan(tx, who, policy, scan))
            except UnknownItem as exc:
                notice = ScanNotice(scan, binding.lane_id, "unknown_item", detail=exc.detail)
            except DomainError as exc:
                notice = ScanNotice(scan, binding.lane_id, "refused", detail=exc.detail)
            else:
                notice = ScanNotice(scan, binding.lane_id, "duplicate" if replayed else "added",
                                    cart_id=cart_id)
        self.hub.publish("scan", notice, binding.lane_id)
        return notice

    # --- reading ---------------------------------------------------------------------------

    def _lane_of(self, device_id: str) -> str | None:
        return self._lanes().get(device_id)

    def _lanes(self) -> dict[str, str]:
        """Device id -> lane: the persisted binding, else a printer's first configured lane."""
        lanes = {pid: pc.lanes[0] for pid, pc in self.printing.configs.items() if pc.lanes}
        lanes.update({k: b.lane_id for k, b in self.bindings.items()})
        return lanes

    def statuses(self) -> list[DeviceStatus]:
        lanes = self._lanes()
        listed = self.registry.statuses(lanes)
        seen = {s.device_id for s in listed}
        # A configured printer that discovery does not see (USB or serial unplugged) is
        # still the store's printer: listed with what its print worker last found.
        for pid, printer in sorted(self.printing.printers.items()):
            if pid not in seen:
                printer.lane_id = lanes.get(pid)
                listed.append(printer.status())
        # Likewise the payments' terminals (with discovery off, listed from their drivers).
        for device_id, watch in self.terminal_watches.items():
            if device_id not in seen:
                device = watch.device
                device.lane_id = lanes.get(device_id)
                listed.append(device.status())
        return sorted(listed, key=lambda s: s.device_id)

    def print_queues(self) -> list[PrintQueueStatus]:
        if not self.printing.printers:
            return []
        return printers.queue_statuses(self.store.reader, self.printing)

    def _bound_printer(self, lane_id: str) -> str | None:
        for device_id, b in self.bindings.items():
            if b.lane_id == lane_id and device_id in self.printing.printers:
                return device_id
        return None

    def printer(self, device_id: str) -> EscposPrinter:
        printer = self.printing.printers.get(device_id)
        if printer is None:
            device = self.registry.get(device_id)
            if device is None:
                self.status(device_id)  # 404 when unknown
            raise InvalidInput(f"device {device_id} is not a receipt printer configured in "
                               "[[devices.printers]]", field="device_id")
        return printer

    async def test_print(self, device_id: str) -> PrintJobView:
        """Queue a test page on a printer (through its queue, like a receipt)."""
        self.printer(device_id)
        return await asyncio.to_thread(self.printing.test_print, device_id)

    async def kick_drawer(self, device_id: str) -> DeviceStatus:
        """Open the drawer on the printer's drawer port now."""
        self.printer(device_id)
        try:
            await asyncio.to_thread(self.printing.kick_drawer, device_id)
        except DeviceFault as fault:
            raise DeviceUnavailable(
                f"{device_id} cannot kick the drawer: {fault.cause.replace('_', ' ')}"
                + (f" ({fault.detail})" if fault.detail else ""), cause=fault.cause) from fault
        return self.status(device_id)

    def listing(self, lane_id: str | None = None) -> DeviceList:
        statuses = self.statuses()
        binds = sorted(self.bindings.values(), key=lambda b: b.device_id)
        if lane_id is not None:
            statuses = [s for s in statuses if s.lane_id == lane_id]
            binds = [b for b in binds if b.lane_id == lane_id]
        return DeviceList(statuses, binds)

    def status(self, device_id: str) -> DeviceStatus:
        for s in self.statuses():
            if s.device_id == device_id:
                return s
        raise NotFound(f"no device {device_id!r} is attached")

    def device(self, device_id: str) -> Device:
        device = self.registry.get(device_id)
        if device is None and device_id in self.terminal_watches:
            device = self.terminal_watches[device_id].device
        if device is None:
            self.status(device_id)  # 404 when unknown
            raise InvalidInput(f"device {device_id} is not supported by any driver")
        return device

    async def check_health(self, device_id: str, level: HealthLevel) -> HealthResult:
        device = self.device(device_id)
        watch = self.terminal_watches.get(device_id)
        if watch is not None and device is watch.device:
            return await watch.check_health(level)  # in a session: never mid-payment
        return await asyncio.to_thread(device.check_health, level)

    # --- bindings --------------------------------------------------------------------------

    def _known(self, device_id: str) -> bool:
        return (self.registry.descriptor(device_id) is not None or device_id in self.bindings
                or device_id in self.printing.printers
                or device_id in self.terminal_watches
                or any(d.id == device_id for d in self.config.configured))

    def bind_in_tx(self, tx: Tx, device_id: str, lane_id: str,
                   scan_adds_to_cart: bool | None) -> Binding:
        """The binding command (runs inside the writer); call `reload_bindings` after it."""
        if not self._known(device_id):
            raise NotFound(f"no device {device_id!r} is attached or configured")
        if not bindings.lane_exists(tx.conn, lane_id):
            raise InvalidInput(f"lane {lane_id!r} has no active token; enroll it first",
                               field="lane_id")
        return bindings.bind(tx, device_id, lane_id, scan_adds_to_cart)

    def unbind_in_tx(self, tx: Tx, device_id: str) -> None:
        if not bindings.unbind(tx, device_id):
            raise NotFound(f"device {device_id!r} is not bound to a lane")

    def reload_bindings(self) -> None:
        self.bindings = bindings.load_all(self.store.reader)
        self._last_state.clear()  # every lane gets its devices' state again on the next tick

    async def bind(self, device_id: str, lane_id: str,
                   scan_adds_to_cart: bool | None = None) -> Binding:
        binding = await self.store.writer.run(
            lambda tx: self.bind_in_tx(tx, device_id, lane_id, scan_adds_to_cart))
        self.reload_bindings()
        return binding

    async def unbind(self, device_id: str) -> None:
        await self.store.writer.run(lambda tx: self.unbind_in_tx(tx, device_id))
        self.reload_bindings()
