"""Demo mode: a store with a catalog, enrolled lanes and emulated devices, ready to ring a sale.

Idempotent: the catalog is imported only into an empty store, and lane tokens are created once
and kept in `demo-tokens.json` (mode 0600) in the data dir, so every start can print them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import msgspec

from core.catalog import parse_json
from core.files import write_atomic
from drivers.emulators.escpos_printer import EscposPrinterEmulator
from drivers.emulators.zvt_terminal import ZvtTerminalEmulator
from edge import lanes
from edge.catalog.service import import_document
from edge.config import LEGACY_TERMINAL_ID, Config
from edge.printing.settings import PrinterConfig
from edge.store.kernel import Store
from edge.tender.settings import TerminalConfig

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


@dataclass
class DemoDevices:
    """Emulators `serve --demo` runs in-process for a store with no printer or terminal of its
    own: an ESC/POS printer on loopback TCP (printed lines appended to `demo-paper-roll.txt`,
    so the demo visibly prints) and a ZVT terminal that approves every card (its journal in
    the data dir). Both speak their real wire protocols: the daemon drives them with the
    drivers that ship."""

    printer: EscposPrinterEmulator | None = None
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
        demo.printer = EscposPrinterEmulator(paper_roll=data_dir / PAPER_ROLL_FILENAME,
                                             drawer_auto_close_s=3.0).start()
        printer = PrinterConfig(id=DEMO_PRINTER_ID, host="127.0.0.1", port=demo.printer.port)
        devices = msgspec.structs.replace(devices, printers=[printer],
                                          default_printer=printer.id)
    if not devices.terminals:
        demo.terminal = ZvtTerminalEmulator("127.0.0.1", 0,
                                            journal_path=data_dir / JOURNAL_FILENAME)
        demo.terminal.start()
        terminal = TerminalConfig(id=LEGACY_TERMINAL_ID, host="127.0.0.1",
                                  port=demo.terminal.port)
        devices = msgspec.structs.replace(devices, terminals=[terminal],
                                          default_terminal=terminal.id)
    return demo, msgspec.structs.replace(config, devices=devices)
