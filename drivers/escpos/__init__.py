"""ESC/POS receipt printers: the driver, real-time status decoding and document rendering.

Public API: `EscposPrinter` (the `Device`), `PrinterSettings`, `status.decode`/`RealtimeStatus`,
`document.render`.
"""

from drivers.escpos.printer import EscposPrinter, PrinterSettings

__all__ = ["EscposPrinter", "PrinterSettings"]
