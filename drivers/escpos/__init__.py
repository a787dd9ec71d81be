"""ESC/POS receipt printers: the driver, real-time status decoding and document rendering.

Public API: `EscposPrinter` (the `Device`), `PrinterSettings`, `status.decode`/`RealtimeStatus`,
`document.render`.
"""

# python-escpos itself is imported at first use (drivers.escpos.document), always after
# capabilities.preload().
from drivers.escpos.printer import EscposPrinter, PrinterSettings

__all__ = ["EscposPrinter", "PrinterSettings"]
