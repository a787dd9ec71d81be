"""Acceptance: the lane keeps selling while the printer is out of paper, and a tech sees why.

Through real processes: the daemon is a subprocess (`novapos-edge serve`), configured with an
emulated ESC/POS printer on TCP (running in this test process, speaking the real protocol)
and a serial scanner on a real pty. A scan adds an item to lane-1's cart; the sale completes
while the printer reports paper out; the receipt is queued; `novapos-edge status` and
`novapos-edge devices list` (real subprocesses) show the printer in error with cause "paper
out" and exit 1; paper is restored; the queued receipt prints exactly once (asserted on what
the emulated printer received) and the CLI goes green (exit 0).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from drivers.emulators.escpos_printer import EscposPrinterEmulator, PrintRecord
from drivers.emulators.serial_scanner import SerialScannerEmulator
from tests.conftest import new_key
from tests.edge.devices.helpers import SseReader, wait_for
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.slow

MILK_EAN = "4006381333931"


def config(tmp_path: Path, printer_port: int) -> str:
    return f"""
[devices]
poll_interval_s = 0.2
usb = false
hid = false
serial_system_ports = false
stream_keepalive_s = 0.5
mdns = false

[[devices.configured]]
id = "scanner"
driver = "serial_scanner"
path = "{tmp_path}/ttyScan*"
lane_id = "lane-1"

[printing]
status_poll_s = 0.2
idle_status_poll_s = 0.3
retry_initial_s = 0.2
retry_max_s = 1.0

[[printing.printers]]
id = "front"
host = "127.0.0.1"
port = {printer_port}
lanes = ["lane-1"]
status_timeout_s = 1.0
"""


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "COLUMNS": "200"})


def copies(record: PrintRecord, receipt_number: str) -> int:
    return sum(receipt_number in text for text in record.receipts())


def test_paper_out_queues_the_receipt_and_the_cli_shows_why(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    data_dir.mkdir()
    with EscposPrinterEmulator() as printer, SerialScannerEmulator(tmp_path / "ttyScan0") as scanner:
        (data_dir / "config.toml").write_text(config(tmp_path, printer.port))
        daemon = DaemonProcess(data_dir).start()
        stream = None
        try:
            token = (data_dir / "admin-token").read_text().strip()
            admin = httpx.Client(base_url=daemon.url, timeout=10,
                                 headers={"Authorization": f"Bearer {token}"})

            def state(device_id: str) -> dict | None:
                r = admin.get(f"/v1/admin/devices/{device_id}")
                return r.json() if r.status_code == 200 else None

            wait_for(lambda: (s := state("scanner-ttyScan0")) and s["state"] == "idle", "scanner")
            wait_for(lambda: (s := state("front")) and s["state"] == "idle", "printer ready")
            assert cli(data_dir, "status").returncode == 0

            # The lane follows its stream; a scan adds the item to its open cart.
            stream = SseReader(f"{daemon.url}/v1/lanes/lane-1/events",
                               {"Authorization": f"Bearer {daemon.tokens['lane-1']}"}).start()
            snapshot = stream.next("snapshot")
            assert {d["device_id"] for d in snapshot["devices"]} == {"scanner-ttyScan0", "front"}
            scanner.scan(MILK_EAN)
            notice = stream.next("scan")
            assert notice["outcome"] == "added", notice
            cart_id = notice["cart_id"]
            lane = daemon.client("lane-1")
            cart = lane.get(f"/v1/carts/{cart_id}").json()
            assert [ln["sku"] for ln in cart["lines"]] and cart["total_minor"] > 0

            # The printer runs out of paper; the lane hears of it on its stream.
            printer.set_state(paper_out=True)
            changed = stream.next("device.state", where=lambda d: d["device_id"] == "front"
                                  and "paper_out" in d["causes"])
            assert changed["state"] == "error"

            # The sale completes anyway; its receipt is queued, not printed, not lost.
            key = {"Idempotency-Key": new_key()}
            r = lane.post(f"/v1/carts/{cart_id}/tenders", headers=key,
                          json={"tender_type": "cash", "amount_minor": cart["total_minor"]})
            assert r.status_code == 201, r.text
            r = lane.post(f"/v1/carts/{cart_id}/complete", json={},
                          headers={"Idempotency-Key": new_key()})
            assert r.status_code == 201, r.text
            order = r.json()
            receipt_number = order["receipt_number"]
            assert order["receipt_print"]["state"] == "queued"
            assert copies(printer.record, receipt_number) == 0

            # The tech's view: printer in error because of paper, exit code 1.
            status = cli(data_dir, "status", "--json")
            assert status.returncode == 1, status.stdout + status.stderr
            report = json.loads(status.stdout)
            assert report["devices_down"] == ["front"]
            front = next(d for d in report["devices"] if d["device_id"] == "front")
            assert front["state"] == "error" and "paper_out" in front["causes"]
            assert any("paper out" in p for p in report["problems"])
            [queue] = report["print_queues"]
            assert (queue["device_id"], queue["queued"]) == ("front", 1)
            human = cli(data_dir, "status")
            assert human.returncode == 1 and "paper out" in human.stdout
            listing = cli(data_dir, "devices", "list")
            assert listing.returncode == 1
            assert "front" in listing.stdout and "paper out" in listing.stdout

            # Paper back: the queued receipt prints exactly once and the CLI goes green.
            printer.set_state(paper_out=False)
            record = printer.wait_for(lambda rec: copies(rec, receipt_number) >= 1, timeout_s=20)
            wait_for(lambda: cli(data_dir, "status").returncode == 0, "status green", 30)
            green = json.loads(cli(data_dir, "status", "--json").stdout)
            assert green["devices_down"] == [] and green["print_queues"][0]["queued"] == 0
            front_status = cli(data_dir, "devices", "status", "front", "--json")
            assert front_status.returncode == 0
            stats = json.loads(front_status.stdout)["statistics"]
            assert stats["paper_outs"] >= 1 and stats["cuts"] >= 1
            assert copies(printer.record, receipt_number) == 1
            assert len(record.cuts) == 1
        finally:
            if stream is not None:
                stream.stop()
            daemon.stop()
