"""The ESC/POS driver against the emulated printer over real TCP and a real pty: what the
printer received (text, cut, pulse, codes) and how each reported state becomes a cause."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from drivers.device import DeviceFault, MemoryStatistics
from drivers.emulators.escpos_printer import EmulatorControl, EscposPrinterEmulator
from drivers.escpos import EscposPrinter, PrinterSettings
from drivers.transports.serial import SerialTransport
from drivers.transports.tcp import TcpTransport
from schemas.devices import DeviceAddress
from schemas.printing import Barcode, Cut, Document, QrCode, Text

RECEIPT = Document([
    Text("Corner Shop", align="center", bold=True, double_height=True),
    Text("Käse 200 g               2.49 EUR"),
    Text("TOTAL                    2.49 EUR", bold=True),
    Barcode("store-001-0000042"),
    QrCode("store-001-0000042"),
    Cut(),
])


@pytest.fixture
def emu() -> Iterator[EscposPrinterEmulator]:
    with EscposPrinterEmulator() as e:
        yield e


def _printer(emu: EscposPrinterEmulator, **settings) -> EscposPrinter:
    p = EscposPrinter(
        "printer-1", DeviceAddress("tcp", host="127.0.0.1", port=emu.port),
        TcpTransport("127.0.0.1", emu.port),
        PrinterSettings(status_timeout_s=1.0, **settings), MemoryStatistics(),
    )
    p.open()
    return p


def test_receipt_reaches_the_printer_with_styles_codes_and_cut(emu: EscposPrinterEmulator) -> None:
    p = _printer(emu)
    p.print_document(RECEIPT)
    rec = emu.record
    assert rec.receipts() and "Käse 200 g" in rec.receipts()[0]
    first = rec.lines[0]
    assert (first.text, first.align, first.bold, first.double_height) == (
        "Corner Shop", "center", True, True)
    total = next(ln for ln in rec.lines if ln.text.startswith("TOTAL"))
    assert total.bold and total.align == "left" and not total.double_height
    assert rec.cuts == ["full"]
    assert rec.barcodes == [{"symbology": "CODE128", "data": "store-001-0000042"}]
    assert rec.qr_codes == ["store-001-0000042"]
    assert rec.unknown_commands == 0
    stats = p.status().statistics
    assert stats["cuts"] == 1 and stats["lines_printed"] >= 5
    assert p.status().state == "idle" and p.status().power == "online"


def test_drawer_kick_pulses_the_pin_and_status_reads_it_open(emu: EscposPrinterEmulator) -> None:
    p = _printer(emu, drawer_pin=5)
    assert not p.drawer_is_open()
    p.kick_drawer()
    rec = emu.wait_for(lambda r: bool(r.pulses))
    assert rec.pulses == [{"pin": 5, "on_ms": 100, "realtime": False}]
    assert p.drawer_is_open()
    assert "drawer_open" in p.status().causes and p.status().state == "idle"
    stats = p.status().statistics
    assert stats["drawer_kicks"] == 1 and stats["drawer_opens"] == 1


def test_drawer_opens_while_paper_is_out_through_the_realtime_pulse(
    emu: EscposPrinterEmulator,
) -> None:
    p = _printer(emu)
    emu.set_state(paper_out=True)
    p.kick_drawer()
    rec = emu.wait_for(lambda r: bool(r.pulses))
    assert rec.pulses == [{"pin": 2, "on_ms": 100, "realtime": True}]


@pytest.mark.parametrize(
    ("state", "cause"),
    [({"paper_out": True}, "paper_out"), ({"cover_open": True}, "cover_open"),
     ({"error": True}, "error")],
)
def test_blocking_states_refuse_the_job_and_nothing_prints(
    emu: EscposPrinterEmulator, state: dict[str, bool], cause: str,
) -> None:
    p = _printer(emu)
    emu.set_state(**state)
    with pytest.raises(DeviceFault) as caught:
        p.print_document(RECEIPT)
    assert caught.value.cause == cause
    status = p.status()
    assert status.state == "error" and cause in status.causes and status.power == "online"
    emu.set_state(paper_out=False, cover_open=False, error=False)
    # Nothing was sent while stopped, so nothing was held back to print now either.
    assert emu.record.lines == [] and emu.record.cuts == []
    p.print_document(RECEIPT)
    assert len(emu.record.receipts()) == 1
    assert p.status().state == "idle" and p.status().causes == []


def test_paper_near_end_warns_but_prints(emu: EscposPrinterEmulator) -> None:
    p = _printer(emu)
    emu.set_state(paper_near_end=True)
    p.print_document(RECEIPT)
    assert len(emu.record.receipts()) == 1
    assert p.status().causes == ["paper_near_end"] and p.status().state == "idle"


def test_paper_out_is_counted_once_per_run_out(emu: EscposPrinterEmulator) -> None:
    p = _printer(emu)
    emu.set_state(paper_out=True)
    for _ in range(3):
        p.query_status()
    emu.set_state(paper_out=False)
    p.query_status()
    emu.set_state(paper_out=True)
    p.query_status()
    assert p.status().statistics["paper_outs"] == 2


def test_silent_printer_is_offline_and_counts_a_communication_error(
    emu: EscposPrinterEmulator,
) -> None:
    p = _printer(emu)
    emu.set_state(offline=True)
    with pytest.raises(DeviceFault) as caught:
        p.print_document(RECEIPT)
    assert caught.value.cause == "offline"
    status = p.status()
    assert status.state == "error" and status.power == "offline" and status.causes == ["offline"]
    assert status.statistics["communication_errors"] == 1
    emu.set_state(offline=False)
    p.print_document(RECEIPT)  # reconnects by itself
    assert len(emu.record.receipts()) == 1


def test_unreachable_printer_is_not_connected() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        p = EscposPrinter("p", DeviceAddress("tcp", host="127.0.0.1", port=port),
                          TcpTransport("127.0.0.1", port, connect_timeout_s=1.0))
        p.open()
        assert p.status().causes == ["not_connected"] and p.status().power == "offline"
        result = p.check_health("internal")
        assert not result.ok and result.causes == ["not_connected"]


def test_health_internal_queries_external_prints_a_test_page(emu: EscposPrinterEmulator) -> None:
    p = _printer(emu)
    internal = p.check_health("internal")
    assert internal.ok and emu.record.lines == []
    external = p.check_health("external")
    assert external.ok
    assert "NovaPOS Edge test print" in emu.record.receipts()[0]
    emu.set_state(cover_open=True)
    assert p.check_health("internal").causes == ["cover_open"]


def test_emulator_holds_data_sent_during_an_error_and_prints_it_on_recovery(
    emu: EscposPrinterEmulator,
) -> None:
    # What a host that ignores status would cause: the held data prints when paper returns.
    control = EmulatorControl("127.0.0.1", emu.control_port)
    control.set_state(paper_out=True)
    with socket.create_connection(("127.0.0.1", emu.port)) as raw:
        raw.sendall(b"\x1b@held line\n\x1dV\x00")
        raw.sendall(b"\x10\x04\x04")
        assert raw.recv(1) == b"\x7e"  # near end + end sensor bits, fixed bits on
    assert control.record().lines == []
    control.set_state(paper_out=False)
    assert control.record().receipts() == ["held line"]


def test_serial_printer_on_a_pty(emu: EscposPrinterEmulator) -> None:
    path = emu.open_pty()
    p = EscposPrinter("serial-1", DeviceAddress("serial", path=path),
                      SerialTransport(path, 19_200), PrinterSettings(status_timeout_s=1.0))
    p.open()
    assert p.status().state == "idle"
    p.print_document(RECEIPT)
    p.kick_drawer()
    rec = emu.wait_for(lambda r: bool(r.pulses))
    assert "TOTAL                    2.49 EUR" in rec.receipts()[0]
    assert rec.pulses[0]["pin"] == 2 and rec.cuts == ["full"]
    emu.set_state(cover_open=True, drawer_open=False)
    with pytest.raises(DeviceFault, match="cover_open"):
        p.print_document(RECEIPT)
    p.close()


def test_emulator_as_its_own_process_is_controlled_over_its_control_port() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "drivers.emulators.escpos_printer", "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        ports = json.loads(proc.stdout.readline())
        control = EmulatorControl("127.0.0.1", ports["control_port"])
        p = EscposPrinter("p", DeviceAddress("tcp", host="127.0.0.1", port=ports["port"]),
                          TcpTransport("127.0.0.1", ports["port"]),
                          PrinterSettings(status_timeout_s=2.0))
        control.set_state(paper_out=True)
        with pytest.raises(DeviceFault, match="paper_out"):
            p.print_document(RECEIPT)
        control.set_state(paper_out=False)
        p.print_document(RECEIPT)
        assert "Corner Shop" in control.record().receipts()[0]
        p.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_drawer_set_to_auto_close_reports_closed_again() -> None:
    with EscposPrinterEmulator(drawer_auto_close_s=0.2) as emu:
        p = _printer(emu)
        p.kick_drawer()
        emu.wait_for(lambda r: bool(r.pulses))
        deadline = time.monotonic() + 10
        while p.drawer_is_open():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert p.status().causes == [] and p.status().statistics["drawer_kicks"] == 1
