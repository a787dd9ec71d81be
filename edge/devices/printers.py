"""Receipt printers in the device registry.

The print service (`edge.printing`) owns the printers configured in `[printing]`, with their
queues and workers. The registry lists and watches them like every other device: configured
network printers through the network interface, serial ones through a serial rule, USB ones
by vendor/product id on the USB bus, each named `escpos` with its configured id, and the
`escpos` driver spec hands the registry the print service's own driver instance (one driver
object per printer, so the queue's worker and the registry see the same state). A USB
printer-class device nobody configured is claimed too, by a status-only driver: it shows up as
a receipt printer with its state, and prints once it is added to `[printing.printers]`.
"""

from __future__ import annotations

import apsw

from drivers.device import Device, StatisticsSink
from drivers.discovery.serial import SerialRule
from drivers.discovery.usb import PRINTER_CLASS
from drivers.escpos import EscposPrinter
from drivers.registry import DriverSpec
from drivers.transports.serial import SerialTransport
from drivers.transports.tcp import TcpTransport
from edge.printing.service import PrintService
from schemas.devices import DeviceAddress, DeviceDescriptor, PrintQueueStatus

ESCPOS = EscposPrinter.DRIVER


def discovery_entries(printing: PrintService) -> tuple[
        list[DeviceDescriptor], list[SerialRule], dict[tuple[int, int], tuple[str, str]]]:
    """(network descriptors, serial rules, USB ids) for the configured printers."""
    network, serial, usb = [], [], {}
    for pid, printer in printing.printers.items():
        a = printer.address
        if a.transport == "tcp":
            network.append(DeviceDescriptor("network", DeviceAddress("tcp", host=a.host,
                                                                     port=a.port),
                                            driver=ESCPOS, device_id=pid))
        elif a.transport == "serial" and a.path:
            serial.append(SerialRule(a.path, ESCPOS, pid))
        elif a.transport == "usb" and a.vendor_id is not None:
            usb[(a.vendor_id, a.product_id or 0)] = (ESCPOS, pid)
    return network, serial, usb


def supported(descriptor: DeviceDescriptor) -> int | None:
    if descriptor.interface == "usb" and descriptor.usb_class == PRINTER_CLASS:
        return 60
    return None


def spec(printing: PrintService) -> DriverSpec:
    def create(device_id: str, d: DeviceDescriptor, statistics: StatisticsSink) -> Device:
        configured = printing.printers.get(device_id)
        if configured is not None:
            return configured
        a = d.address
        if a.transport == "usb":
            from drivers.transports.usb import UsbTransport  # pyusb only where USB is used

            transport = UsbTransport(a.vendor_id or 0, a.product_id or 0)
        elif a.transport == "serial":
            transport = SerialTransport(a.path or "")
        else:
            transport = TcpTransport(a.host or "", a.port or 9100)
        return EscposPrinter(device_id, a, transport, statistics=statistics)

    return DriverSpec(ESCPOS, "receipt_printer", supported, create)


def queue_statuses(conn: apsw.Connection, printing: PrintService) -> list[PrintQueueStatus]:
    rows = conn.execute(
        "SELECT printer_id, sum(state IN ('queued', 'printing')), sum(state = 'failed'), "
        "min(CASE WHEN state IN ('queued', 'printing') THEN created_at_ms END) "
        "FROM print_jobs GROUP BY printer_id").fetchall()
    found = {r[0]: r for r in rows}
    out = []
    for pid in sorted(printing.printers):
        _, queued, failed, oldest = found.get(pid, (pid, 0, 0, None))
        out.append(PrintQueueStatus(pid, int(queued or 0), int(failed or 0), oldest))
    return out
