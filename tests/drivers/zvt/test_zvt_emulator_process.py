"""The emulator as its own process (`python -m drivers.emulators.zvt_terminal`), as the demo
mode and cross-process tests run it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.emulators.zvt_terminal.control import EmulatorControl
from drivers.zvt import ZvtTerminal
from schemas.devices import DeviceAddress


def test_standalone_emulator_serves_the_driver_and_writes_its_journal(tmp_path: Path) -> None:
    journal = tmp_path / "journal.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "drivers.emulators.zvt_terminal", "--port", "0",
         "--journal", str(journal)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        port = int(line.rsplit(":", 1)[1])
        term = ZvtTerminal("t", DeviceAddress("tcp", host="127.0.0.1", port=port))
        result = term.authorize(4321, "EUR", "order-proc")
        term.close()
        assert result.outcome == "approved"
        deadline = time.monotonic() + 10
        while not journal.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        rows = json.loads(journal.read_text())
        assert [(r["ecr_ref"], r["state"], r["amount_minor"]) for r in rows] == [
            ("order-proc", "booked", 4321)]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_a_terminal_in_another_process_is_scripted_through_its_control_port() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "drivers.emulators.zvt_terminal", "--port", "0",
         "--control-port", "0"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().rsplit(":", 1)[1])
        control = EmulatorControl(int(proc.stdout.readline().rsplit(":", 1)[1]))
        term = ZvtTerminal("t", DeviceAddress("tcp", host="127.0.0.1", port=port))
        control.script("decline", result_code=0x78)
        control.set_link(False)
        declined = term.authorize(100, "EUR", "order-a")
        stored = term.authorize(200, "EUR", "order-b")
        control.set_link(True)
        term.close()
        assert (declined.outcome, declined.result_code) == ("declined", 0x78)
        assert stored.outcome == "stored_offline"
        assert [(e.ecr_ref, e.state) for e in control.journal()] == [
            ("order-a", "declined"), ("order-b", "booked")]
        assert control.charged_minor("order-b") == 200
        with pytest.raises(ValueError):
            control.script("explode")
        with pytest.raises(ValueError):
            control.script("approve", no_such_param=1)
        control.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
