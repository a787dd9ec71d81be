"""The store's printing: its printers, their queues and workers, and the hooks a sale calls.

Python API (the admin API, CLI and device registry build on it):
- `printers` (id → `EscposPrinter`), `printer_for_lane(lane_id)`, `statuses()`
- `enqueue_receipt(tx, order_id, lane_id)` inside the sale's transaction; never raises
- `reprint(tx, order_id, lane_id, printer_id)`, `test_print(printer_id)`, `kick_drawer(id)`
- `queue_depths()`, `queues()`, `jobs(printer_id)`
- `committed(appended)`: after each commit; kicks the drawer for cash sales, wakes workers

Why the receipt is enqueued inside the sale's transaction: the job and the sale commit together
or not at all, so a crash right after the commit cannot lose a receipt, and an idempotent replay
of the sale answers the same job id. The insert is one row in a nested savepoint: if it fails,
only it is rolled back and the sale still completes (the lane sees `receipt_print: null`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import apsw
import msgspec
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from core.clock import Clock
from core.errors import ConfigError, InvalidInput, NotFound
from core.ids import uuid7
from drivers.device import MemoryStatistics, StatisticsSink
from drivers.escpos import EscposPrinter, PrinterSettings
from drivers.transports import Transport
from drivers.transports.serial import SerialTransport
from drivers.transports.tcp import TcpTransport
from edge.carts.model import Policy
from edge.fiscal import journal
from edge.orders import views as orders
from edge.printing import queue
from edge.printing.render import ReceiptLayout, receipt_document
from edge.printing.settings import PrinterConfig, PrintingConfig
from edge.printing.worker import PrintWorker, RenderError
from edge.store.writer import Tx, Writer
from schemas import events as ev
from schemas.devices import DeviceAddress, DeviceStatus
from schemas.envelope import Event
from schemas.fiscal import ReceiptReprinted
from schemas.printing import Document, PrintJobView, PrintQueueView, ReceiptPrint

log = structlog.get_logger("novapos.printing")


def address_of(pc: PrinterConfig) -> DeviceAddress:
    if pc.transport == "tcp":
        return DeviceAddress("tcp", host=pc.host, port=pc.port)
    if pc.transport == "serial":
        return DeviceAddress("serial", path=pc.path)
    return DeviceAddress("usb", vendor_id=pc.vendor_id, product_id=pc.product_id)


def transport_for(pc: PrinterConfig) -> Transport:
    if pc.transport == "tcp":
        assert pc.host is not None
        return TcpTransport(pc.host, pc.port)
    if pc.transport == "serial":
        assert pc.path is not None
        return SerialTransport(pc.path, pc.baudrate)
    from drivers.transports.usb import UsbTransport  # pyusb only where USB is configured

    assert pc.vendor_id is not None and pc.product_id is not None
    return UsbTransport(pc.vendor_id, pc.product_id)


def build_printer(pc: PrinterConfig, statistics: StatisticsSink) -> EscposPrinter:
    try:
        settings = PrinterSettings(
            profile=pc.profile, code_page=pc.code_page, columns=pc.columns,
            drawer_pin=pc.drawer_pin, drawer_open_when_high=pc.drawer_open_when_high,
            status_timeout_s=pc.status_timeout_s,
        )
    except ValueError as exc:  # a profile without the code page (checked here: escpos's
        # printer database is too heavy to load with every config read)
        raise ConfigError(f"[[devices.printers]] {pc.id}: {exc}") from exc
    return EscposPrinter(pc.id, address_of(pc), transport_for(pc), settings, statistics)


@dataclass(frozen=True, slots=True)
class _Metrics:
    depth: Gauge
    jobs: Counter


class PrintService:
    def __init__(
        self,
        config: PrintingConfig,
        *,
        printers: list[PrinterConfig],
        default_printer: str | None,
        db_path: Path,
        writer: Writer,
        clock: Clock,
        policy: Policy,
        tz: ZoneInfo,
        registry: CollectorRegistry,
        statistics: StatisticsSink | None = None,
    ) -> None:
        self.config = config
        self._db_path = db_path
        self._writer = writer
        self._clock = clock
        self._policy = policy
        self._tz = tz
        self.statistics = statistics or MemoryStatistics()
        self._configs: dict[str, PrinterConfig] = {}
        self._default: str | None = default_printer
        self.printers: dict[str, EscposPrinter] = {}
        self._workers: dict[str, PrintWorker] = {}
        self._started = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # Lane -> printer from the device bindings (edge.devices); consulted before the
        # [printing] lanes, so binding a printer to a lane routes that lane's receipts to it.
        self.bound_printer: Callable[[str], str | None] | None = None
        self._metrics = _Metrics(
            Gauge("novapos_print_queue_depth", "Print jobs queued or printing, per printer",
                  ["device_id"], registry=registry),
            Counter("novapos_print_jobs_total", "Print attempts by outcome, per printer",
                    ["device_id", "outcome"], registry=registry),
        )
        for pc in printers:
            self.add_printer(pc)

    # --- printers --------------------------------------------------------------------------

    def add_printer(self, pc: PrinterConfig, *, default: bool = False,
                    printer: EscposPrinter | None = None) -> EscposPrinter:
        """Register a printer (before `start`); `printer` lets a caller supply its own driver
        instance, e.g. one the device registry already owns."""
        assert not self._started, "add printers before start"
        assert pc.id not in self._configs, pc.id
        self._configs[pc.id] = pc
        self.printers[pc.id] = printer or build_printer(pc, self.statistics)
        if default:
            self._default = pc.id
        self._metrics.depth.labels(pc.id).set(0)
        return self.printers[pc.id]

    @property
    def configs(self) -> dict[str, PrinterConfig]:
        return dict(self._configs)

    def printer_for_lane(self, lane_id: str) -> str | None:
        if self.bound_printer is not None:
            bound = self.bound_printer(lane_id)
            if bound is not None and bound in self.printers:
                return bound
        for pc in self._configs.values():
            if lane_id in pc.lanes:
                return pc.id
        return self._default

    def statuses(self) -> list[DeviceStatus]:
        return [p.status() for p in self.printers.values()]

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        if not self.printers:
            return
        recovered = self._writer.run_sync(lambda tx: queue.recover(tx.conn, tx.now_ms))
        if recovered:
            log.warning("print jobs were interrupted mid-print; they will print again",
                        jobs=recovered)
        c = self.config
        for pid, printer in self.printers.items():
            worker = PrintWorker(
                printer, db_path=self._db_path, writer=self._writer, clock=self._clock,
                document_for=self._document_for, retry_initial_s=c.retry_initial_s,
                retry_max_s=c.retry_max_s, max_attempts=c.max_attempts,
                status_poll_s=c.status_poll_s, idle_status_poll_s=c.idle_status_poll_s,
                on_change=self._changed,
            )
            worker.loop = self._loop
            self._workers[pid] = worker
            worker.start()

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Called by the app's lifespan: while set, workers commit through the writer's batches
        on this loop instead of taking the writer lock from their threads."""
        self._loop = loop
        for worker in self._workers.values():
            worker.loop = loop

    def stop(self) -> None:
        for worker in self._workers.values():
            worker.stop()
        self._workers.clear()
        self._started = False

    def _changed(self, printer_id: str, conn: apsw.Connection, outcome: str | None) -> None:
        self._metrics.depth.labels(printer_id).set(queue.depth(conn, printer_id))
        if outcome is not None:
            self._metrics.jobs.labels(printer_id, outcome).inc()

    # --- rendering -------------------------------------------------------------------------

    def layout_for(self, printer_id: str) -> ReceiptLayout:
        c = self.config
        return ReceiptLayout(columns=self._configs[printer_id].columns, header=tuple(c.header),
                             footer=tuple(c.footer), code=c.receipt_code)

    def receipt_for(self, conn: apsw.Connection, order_id: str, printer_id: str, *,
                    reprint: bool = False) -> Document:
        order = orders.by_id(conn, order_id)
        view = orders.receipt(order, self._policy, self._tz,
                              fiscal=journal.stamp_for_order(conn, order_id))
        return receipt_document(view, self.layout_for(printer_id), reprint=reprint)

    def _document_for(self, conn: apsw.Connection, job: PrintJobView) -> Document:
        try:
            if job.kind in ("test", "document"):
                raw = queue.payload(conn, job.job_id)
                return msgspec.json.decode(raw or b"", type=Document)
            assert job.order_id is not None
            return self.receipt_for(conn, job.order_id, job.printer_id,
                                    reprint=job.kind == "reprint")
        except (NotFound, msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise RenderError(str(exc)) from exc

    # --- enqueueing ------------------------------------------------------------------------

    def enqueue_receipt(self, tx: Tx, order_id: str) -> ReceiptPrint | None:
        """Queue the sale's receipt, on its lane's printer, in the sale's transaction. Never
        raises: a printing problem must not cost the sale (the lane can reprint)."""
        try:
            with tx.nested():  # a failure here rolls back only the job
                rows = tx.conn.execute("SELECT lane_id FROM orders WHERE order_id = ?",
                                       (order_id,)).fetchall()
                printer_id = self.printer_for_lane(rows[0][0]) if rows else None
                if printer_id is None:
                    return None
                job = queue.enqueue(tx.conn, job_id=uuid7(), printer_id=printer_id,
                                    kind="receipt", order_id=order_id, payload=None,
                                    now_ms=tx.now_ms)
        except Exception:  # see the docstring: the sale must not fail
            log.exception("could not queue the receipt", order_id=order_id)
            return None
        return ReceiptPrint(job.job_id, printer_id, job.state)

    def enqueue_document(self, tx: Tx, lane_id: str,
                         render: Callable[[int], Document]) -> ReceiptPrint | None:
        """Queue a document another domain renders (`render(columns)`, e.g. a return receipt)
        on the lane's printer, in the caller's transaction. Never raises, like a receipt."""
        try:
            with tx.nested():
                printer_id = self.printer_for_lane(lane_id)
                if printer_id is None:
                    return None
                data = msgspec.json.encode(render(self.layout_for(printer_id).columns))
                job = queue.enqueue(tx.conn, job_id=uuid7(), printer_id=printer_id,
                                    kind="document", order_id=None, payload=data,
                                    now_ms=tx.now_ms)
        except Exception:  # the document's own transaction must not fail for paper
            log.exception("could not queue the document", lane_id=lane_id)
            return None
        return ReceiptPrint(job.job_id, printer_id, job.state)

    def reprint(self, tx: Tx, order_id: str, lane_id: str,
                printer_id: str | None = None) -> ReceiptPrint:
        orders.by_id(tx.conn, order_id)  # 404 for an unknown order
        target = printer_id or self.printer_for_lane(lane_id)
        if target is None:
            raise InvalidInput(f"lane {lane_id} has no receipt printer; name one in printer_id")
        if target not in self.printers:
            raise InvalidInput(f"no printer {target!r}")
        try:
            job = queue.enqueue(tx.conn, job_id=uuid7(), printer_id=target, kind="reprint",
                                order_id=order_id, payload=None, now_ms=tx.now_ms)
            # A reprint is fiscally relevant: it is an event, and the journal signs it.
            tx.append(ReceiptReprinted(order_id=order_id, job_id=job.job_id, lane_id=lane_id),
                      stream=f"order:{order_id}", lane_id=lane_id)
        except queue.QueueFull as exc:
            raise InvalidInput(str(exc)) from exc
        return ReceiptPrint(job.job_id, target, job.state)

    def test_print(self, printer_id: str) -> PrintJobView:
        """Queue a test page (external health check through the queue); returns the job."""
        printer = self.printers.get(printer_id)
        if printer is None:
            raise NotFound(f"no printer {printer_id!r}")
        data = msgspec.json.encode(printer.test_page())
        job = self._writer.run_sync(lambda tx: queue.enqueue(
            tx.conn, job_id=uuid7(), printer_id=printer_id, kind="test", order_id=None,
            payload=data, now_ms=tx.now_ms))
        self.wake(printer_id)
        return job

    def kick_drawer(self, printer_id: str) -> None:
        """Open the drawer now, from the caller's thread (the CLI's kick-drawer)."""
        printer = self.printers.get(printer_id)
        if printer is None:
            raise NotFound(f"no printer {printer_id!r}")
        printer.kick_drawer()

    def kick_for_lane(self, lane_id: str) -> None:
        """Open the drawer of the lane's printer soon (a no-sale, after its commit); a lane
        without a running printer has no drawer to open."""
        worker = self._workers.get(self.printer_for_lane(lane_id) or "")
        if worker is not None:
            worker.request_kick()

    def wake(self, printer_id: str | None = None) -> None:
        for pid, worker in self._workers.items():
            if printer_id is None or pid == printer_id:
                worker.wake()

    def committed(self, appended: Iterable[Event]) -> None:
        """After a commit (on the event loop: cheap). Cash sales open the drawer."""
        if not self._workers:
            return
        for stored in appended:
            if stored.type != ev.SaleCompleted.TYPE or not self.config.kick_drawer_on_cash:
                continue
            worker = self._workers.get(self.printer_for_lane(stored.lane_id or "") or "")
            if worker is None:
                continue
            sale = ev.decode_body(stored.type, stored.schema_version, stored.body)
            if any(t.tender_type == "cash" for t in sale.tenders):  # type: ignore[union-attr]
                worker.request_kick()
        # Any commit may have queued a job (a receipt, a reprint): let the workers look.
        self.wake()

    # --- reading the queues ----------------------------------------------------------------

    def for_order(self, conn: apsw.Connection, order_id: str) -> ReceiptPrint | None:
        """The order's latest receipt job (`edge.orders.views.ReceiptPrints`)."""
        return queue.for_order(conn, order_id)

    def queue_depths(self, conn: apsw.Connection) -> dict[str, int]:
        found = queue.depths(conn)
        return {pid: found.get(pid, 0) for pid in self.printers}

    def jobs(self, conn: apsw.Connection, printer_id: str | None = None,
             limit: int = 100) -> list[PrintJobView]:
        return queue.jobs(conn, printer_id, limit=limit)

    def queues(self, conn: apsw.Connection, limit: int = 20) -> list[PrintQueueView]:
        depths = self.queue_depths(conn)
        return [PrintQueueView(pid, depths[pid], queue.jobs(conn, pid, limit=limit))
                for pid in self.printers]
