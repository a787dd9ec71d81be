"""Scanner drivers over their real transports: pyserial on a pty fed by the scanner emulator,
and hidapi-shaped devices faked at the transport boundary (the `hid.device` factory)."""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

from drivers.device import MemoryStatistics
from drivers.emulators.serial_scanner import SerialScannerEmulator
from drivers.scanners import hidpos, wedge
from drivers.scanners.hid import HidPosScanner, WedgeScanner
from drivers.scanners.serial import SerialScanner
from schemas.devices import DeviceAddress, DeviceDescriptor, Scan

WAIT_S = 10.0


def _wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _collect(scanner) -> queue.Queue[Scan]:
    got: queue.Queue[Scan] = queue.Queue()
    scanner.on_scan = got.put
    return got


def test_serial_scanner_on_a_pty_reads_aim_prefixed_codes(tmp_path: Path) -> None:
    stats = MemoryStatistics()
    with SerialScannerEmulator(tmp_path / "ttyACM-test") as em:
        desc = DeviceDescriptor("serial", DeviceAddress("serial", path=em.path),
                                driver="serial_scanner", options={"suffix": "cr"})
        scanner = SerialScanner.from_descriptor("scanner-1", desc, stats)
        got = _collect(scanner)
        scanner.open()
        try:
            assert scanner.status().state == "idle" and scanner.status().power == "online"
            em.scan("4006381333931")
            em.scan("12345670", aim="]E4")
            em.scan("ABC-42", aim=None)
            scans = [got.get(timeout=WAIT_S) for _ in range(3)]
            assert [(s.code, s.symbology) for s in scans] == [
                ("4006381333931", "ean13"), ("12345670", "ean8"), ("ABC-42", None)]
            assert len({s.scan_id for s in scans}) == 3
            assert all(s.device_id == "scanner-1" for s in scans)
            assert stats.snapshot("scanner-1")["scans"] == 3
            health = scanner.check_health("internal")
            assert health.ok and health.causes == []
        finally:
            em.close()  # the pty goes away under the open port: a read error
        _wait_for(lambda: scanner.status().state == "error", "the scanner to notice")
        assert scanner.status().causes in (["communication_error"], ["not_connected"])
        assert not scanner.check_health("internal").ok
        assert stats.snapshot("scanner-1")["communication_errors"] >= 1
        scanner.close()
        assert scanner.status().state == "closed"


class FakeHidDevice:
    """hidapi's `hid.device` surface: open_path, read(size, timeout_ms), write, close."""

    def __init__(self, reports: list[bytes]) -> None:
        self.reports: queue.Queue[bytes] = queue.Queue()
        for r in reports:
            self.reports.put(r)
        self.opened: bytes | None = None
        self.closed = threading.Event()

    def open_path(self, path: bytes) -> None:
        self.opened = path

    def read(self, size: int, timeout_ms: int) -> list[int]:
        try:
            return list(self.reports.get(timeout=timeout_ms / 1000)[:size])
        except queue.Empty:
            return []

    def write(self, data: list[int]) -> int:
        return len(data)

    def close(self) -> None:
        self.closed.set()


def test_hid_pos_scanner_reads_scanned_data_reports() -> None:
    fake = FakeHidDevice(hidpos.encode_reports(b"4006381333931")
                         + hidpos.encode_reports(b"https://example.test/" + b"x" * 80, "]Q1"))
    desc = DeviceDescriptor("hid", DeviceAddress("hid", path="1-3:1.1", vendor_id=0x0C2E,
                                                 product_id=0x0B61), usage_page=0x8C, usage=2)
    scanner = HidPosScanner.from_descriptor("hidpos-1", desc, MemoryStatistics(), lambda: fake)
    got = _collect(scanner)
    scanner.open()
    try:
        first, second = got.get(timeout=WAIT_S), got.get(timeout=WAIT_S)
        assert fake.opened == b"1-3:1.1"
        assert (first.code, first.symbology) == ("4006381333931", "ean13")
        assert second.code == "https://example.test/" + "x" * 80 and second.symbology == "qr"
    finally:
        scanner.close()
    assert fake.closed.is_set()


def test_wedge_scanner_decodes_keyboard_reports_with_its_layout() -> None:
    fake = FakeHidDevice(wedge.encode("4006381333931", "de") + wedge.encode("Zy-9", "de"))
    desc = DeviceDescriptor("hid", DeviceAddress("hid", path="1-4:1.0", vendor_id=0x0C2E,
                                                 product_id=0x0B01), usage_page=1, usage=6,
                            options={"layout": "de"})
    scanner = WedgeScanner.from_descriptor("wedge-1", desc, MemoryStatistics(), lambda: fake)
    got = _collect(scanner)
    scanner.open()
    try:
        assert [got.get(timeout=WAIT_S).code for _ in range(2)] == ["4006381333931", "Zy-9"]
    finally:
        scanner.close()


def test_a_port_that_opens_but_fails_every_read_stays_in_error_without_flapping(
    tmp_path: Path,
) -> None:
    stats = MemoryStatistics()
    em = SerialScannerEmulator(tmp_path / "ttyHalfDead")
    scanner = SerialScanner("half-dead", DeviceAddress("serial", path=em.path), stats)
    scanner.open()
    try:
        # Hang up the far end but keep the node: reopening works, every read fails (EIO).
        em.hang_up()
        _wait_for(lambda: scanner.status().state == "error", "the error")
        transitions = stats.snapshot("half-dead").get("online_transitions", 0)
        seen = set()
        deadline = time.monotonic() + 2.5  # a couple of reopen attempts
        while time.monotonic() < deadline:
            seen.add(scanner.status().state)
            time.sleep(0.02)
        assert seen == {"error"}
        assert stats.snapshot("half-dead").get("online_transitions", 0) == transitions
        assert stats.snapshot("half-dead")["communication_errors"] == 1
    finally:
        scanner.close()
        em.close()
