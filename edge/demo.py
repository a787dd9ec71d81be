"""Demo mode: a store with a catalog, enrolled lanes and emulated devices, ready to ring a sale.

Idempotent: the catalog is imported only into an empty store, and lane tokens are created once
and kept in `demo-tokens.json` (mode 0600) in the data dir, so every start can print them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from core.catalog import parse_json
from core.files import write_atomic
from edge import lanes
from edge.catalog.service import import_document
from edge.config import LEGACY_TERMINAL_ID, Config
from edge.printing.settings import PrinterConfig
from edge.store.kernel import Store
from edge.tender.settings import TerminalConfig

if TYPE_CHECKING:  # `serve` without --demo imports this module but runs no emulator
    from drivers.emulators.zvt_terminal import ZvtTerminalEmulator

TOKENS_FILENAME = "demo-tokens.json"
DEMO_LANES: tuple[tuple[str, lanes.Role], ...] = (
    ("lane-1", "cashier"), ("lane-2", "cashier"), ("manager-1", "manager"),
)


def demo_catalog_bytes() -> bytes:
    return resources.files("edge").joinpath("demo_catalog.json").read_bytes()


def seed(service: Store) -> dict[str, str]:
    """Import the demo catalog if the store has none; return lane id -> token.

    The service must be started (the import goes through its writer)."""
    doc = parse_json(demo_catalog_bytes())
    service.writer.run_sync(lambda tx: _import_if_empty(tx, doc))
    return _tokens(service)


def _import_if_empty(tx, doc) -> None:
    if tx.conn.execute("SELECT 1 FROM products LIMIT 1").fetchall():
        return
    import_document(tx, doc, lane_id=None)


def _tokens(service: Store) -> dict[str, str]:
    path: Path = service.data_dir / TOKENS_FILENAME
    saved = _saved_tokens(path)
    if saved and all(service.authenticate(token) is not None for token in saved.values()):
        return saved
    # None saved, or a file an older build left damaged by a power cut: fresh tokens (the
    # demo lanes' old ones stay valid until revoked; nothing else depends on this file).
    tokens = {lane: service.enroll_lane(lane, role).token for lane, role in DEMO_LANES}
    write_atomic(path, msgspec.json.format(msgspec.json.encode(tokens)), mode=0o600)
    return tokens


def _saved_tokens(path: Path) -> dict[str, str] | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=dict[str, str])
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return None


# --- demo devices ----------------------------------------------------------------------------

DEMO_PRINTER_ID = "demo-printer"
PAPER_ROLL_FILENAME = "demo-paper-roll.txt"
JOURNAL_FILENAME = "demo-terminal-journal.json"


@dataclass(frozen=True)
class DemoPrinter:
    """The demo printer, a process of its own (a printer is not the daemon's work: its CPU
    must not count as the daemon's), dying with the daemon."""

    process: subprocess.Popen
    port: int
    control_port: int
    paper_roll: Path

    @classmethod
    def start(cls, paper_roll: Path) -> DemoPrinter:
        """Bind its two ports here and hand them to the child: the daemon knows them at once
        and does not wait for the child's interpreter to start (its driver's first status
        request waits in the socket's backlog until the child answers it)."""
        printer, control = _listen(), _listen()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "drivers.emulators.escpos_printer",
                 "--listen-fd", str(printer.fileno()), "--control-fd", str(control.fileno()),
                 "--parent-pid", str(os.getpid()),
                 "--drawer-auto-close-s", "3", "--paper-roll", str(paper_roll)],
                stdout=subprocess.DEVNULL, pass_fds=(printer.fileno(), control.fileno()))
            return cls(process, printer.getsockname()[1], control.getsockname()[1], paper_roll)
        finally:
            printer.close()
            control.close()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


@dataclass
class DemoDevices:
    """Emulators `serve --demo` runs for a store with no printer or terminal of its own: an
    ESC/POS printer on loopback TCP in a process of its own (printed lines appended to
    `demo-paper-roll.txt`, so the demo visibly prints) and, in the daemon's process, a ZVT
    terminal that approves every card (its journal in the data dir, which crash tests read).
    Both speak their real wire protocols: the daemon drives them with the drivers that ship."""

    printer: DemoPrinter | None = None
    terminal: ZvtTerminalEmulator | None = None

    def stop(self) -> None:
        if self.printer is not None:
            self.printer.stop()
        if self.terminal is not None:
            self.terminal.stop()


def start_devices(config: Config, data_dir: Path) -> tuple[DemoDevices, Config]:
    """Before the daemon is composed: the emulators started and the config that uses them
    (every lane prints and takes cards on them by default)."""
    demo = DemoDevices()
    devices = config.devices
    if not devices.printers and config.printing.demo_printer:
        demo.printer = DemoPrinter.start(data_dir / PAPER_ROLL_FILENAME)
        printer = PrinterConfig(id=DEMO_PRINTER_ID, host="127.0.0.1", port=demo.printer.port)
        devices = msgspec.structs.replace(devices, printers=[printer],
                                          default_printer=printer.id)
    if not devices.terminals:
        from drivers.emulators.zvt_terminal import ZvtTerminalEmulator

        demo.terminal = ZvtTerminalEmulator("127.0.0.1", 0,
                                            journal_path=data_dir / JOURNAL_FILENAME)
        demo.terminal.start()
        terminal = TerminalConfig(id=LEGACY_TERMINAL_ID, host="127.0.0.1",
                                  port=demo.terminal.port)
        devices = msgspec.structs.replace(devices, terminals=[terminal],
                                          default_terminal=terminal.id)
    return demo, msgspec.structs.replace(config, devices=devices)
