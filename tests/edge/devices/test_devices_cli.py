"""`novapos-edge devices ...` and `status` against a real daemon process: tables or JSON, and
exit codes 0 ok / 1 degraded / 2 bad input / 3 daemon down. Most commands run in-process
(typer's runner, as the other CLI tests do); `watch` and `status` also run as real
subprocesses, which is how monitoring calls them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from drivers.emulators.serial_scanner import SerialScannerEmulator
from edge.cli import app
from tests.edge.devices.helpers import device_config, wait_for
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.slow


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def cli(data_dir: Path, *args: str) -> Result:
    r = CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)], env={"COLUMNS": "200"})
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return Result(r.exit_code, r.stdout, r.stderr)


def cli_process(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "COLUMNS": "200"})


def test_devices_cli_against_a_running_daemon(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    data_dir.mkdir()
    (data_dir / "config.toml").write_text(device_config(str(tmp_path / "tty*"), lane_id="lane-1"))
    daemon = DaemonProcess(data_dir).start()
    em = SerialScannerEmulator(tmp_path / "ttyScan0")
    try:
        def scanners() -> list[dict]:
            r = cli(data_dir, "devices", "list", "--json")
            assert r.returncode == 0, r.stdout + r.stderr
            return [d for d in json.loads(r.stdout)["devices"] if d["kind"] == "barcode_scanner"]

        # The configured lane is bound when the attach is logged, just after the scanner is
        # listed (after every device of the same poll is open, the demo terminal included).
        [scanner] = wait_for(lambda: [s for s in scanners() if s["lane_id"]], "attach and bind")
        assert (scanner["device_id"], scanner["state"], scanner["lane_id"]) == (
            "scanner-ttyScan0", "idle", "lane-1")
        table = cli(data_dir, "devices", "list")
        assert table.returncode == 0 and "scanner-ttyScan0" in table.stdout and "idle" in table.stdout

        watch = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "devices", "watch", "--json", "--count", "1",
             "--data-dir", str(data_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # The watcher is subscribed once the daemon counts it; then scan.
            time.sleep(0.5)
            deadline = time.monotonic() + 20
            while watch.poll() is None and time.monotonic() < deadline:
                em.scan("NOT-IN-CATALOG", aim=None)
                try:
                    watch.wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    pass
            stdout, stderr = watch.communicate(timeout=10)
        finally:
            if watch.poll() is None:
                watch.kill()
        assert watch.returncode == 0, stderr
        event = json.loads(stdout)
        assert event["event"] == "scan"
        assert event["data"]["outcome"] == "unknown_item" and event["data"]["lane_id"] == "lane-1"

        status = cli(data_dir, "devices", "status", "scanner-ttyScan0", "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["statistics"]["scans"] >= 1
        health = cli(data_dir, "devices", "health", "scanner-ttyScan0", "--level", "internal")
        assert health.returncode == 0 and "ok" in health.stdout
        bind = cli(data_dir, "devices", "bind", "scanner-ttyScan0", "lane-2", "--scan-only")
        assert bind.returncode == 0, bind.stderr
        assert json.loads(cli(data_dir, "devices", "status", "scanner-ttyScan0", "--json")
                          .stdout)["lane_id"] == "lane-2"

        # Bad input: exit 2 with the daemon's reason.
        unknown = cli(data_dir, "devices", "status", "no-such-device")
        assert unknown.returncode == 2 and "no-such-device" in unknown.stderr
        assert cli(data_dir, "devices", "bind", "scanner-ttyScan0", "lane-9").returncode == 2
        assert cli(data_dir, "devices", "health", "scanner-ttyScan0", "--level", "x").returncode == 2

        # Demo mode's emulated printer is a device like any other (and ready).
        listing = json.loads(cli(data_dir, "devices", "list", "--json").stdout)
        printer = next(d for d in listing["devices"] if d["kind"] == "receipt_printer")
        assert (printer["device_id"], printer["state"]) == ("demo-printer", "idle")
        # ...and so is its emulated payment terminal (the ZVT emulator it starts in-process).
        terminal = wait_for(lambda: [d for d in json.loads(
            cli(data_dir, "devices", "list", "--json").stdout)["devices"]
            if d["kind"] == "payment_terminal" and d["state"] == "idle"], "the demo terminal")
        assert [(d["device_id"], d["driver"], d["power"]) for d in terminal] == [
            ("payment-terminal", "zvt", "online")]

        # A device node that cannot be opened: attached, down, and the store is degraded.
        (tmp_path / "not-a-tty").write_text("")
        (tmp_path / "ttyBroken").symlink_to(tmp_path / "not-a-tty")
        down = wait_for(lambda: (r := cli(data_dir, "status", "--json")).returncode == 1 and r,
                        "the broken device to show as down")
        report = json.loads(down.stdout)
        assert report["devices_down"] == ["scanner-ttyBroken"]
        assert any("not connected" in p for p in report["problems"])
        human = cli_process(data_dir, "status")
        assert human.returncode == 1 and "scanner-ttyBroken" in human.stdout
        assert "not connected" in human.stdout
        assert cli(data_dir, "devices", "list").returncode == 1
        (tmp_path / "ttyBroken").unlink()
        wait_for(lambda: cli(data_dir, "status").returncode == 0, "green again")
    finally:
        em.close()
        daemon.stop()
    gone = cli_process(data_dir, "devices", "list")
    assert gone.returncode == 3 and "not running" in gone.stderr
    assert not (data_dir / "admin-token").exists(), "a clean stop revokes the admin token"
