"""Demo mode's printer: with no printer configured, `serve --demo` starts an emulated ESC/POS
printer on a free loopback port and prints every lane's receipts on it, appending the printed
lines to `demo-paper-roll.txt` in the data directory so the demo visibly prints."""

from __future__ import annotations

from pathlib import Path

from drivers.emulators.escpos_printer import EscposPrinterEmulator
from edge.config import PrinterConfig
from edge.printing.service import PrintService

DEMO_PRINTER_ID = "demo-printer"
PAPER_ROLL_FILENAME = "demo-paper-roll.txt"


def start_demo_printer(printing: PrintService, data_dir: Path) -> EscposPrinterEmulator | None:
    """Call before the service starts. Returns the running emulator (stop it on exit), or None
    when real printers are configured."""
    if printing.printers or not printing.config.demo_printer:
        return None
    emulator = EscposPrinterEmulator(paper_roll=data_dir / PAPER_ROLL_FILENAME,
                                     drawer_auto_close_s=3.0).start()
    printing.add_printer(
        PrinterConfig(id=DEMO_PRINTER_ID, host="127.0.0.1", port=emulator.port), default=True)
    return emulator
