"""ESC/POS receipt printers: the driver, real-time status decoding and document rendering.

Public API: `EscposPrinter` (the `Device`), `PrinterSettings`, `status.decode`/`RealtimeStatus`,
`document.render`.
"""

from drivers.escpos.capabilities import preload

preload()  # before anything imports escpos

from drivers.escpos.printer import EscposPrinter, PrinterSettings  # noqa: E402

__all__ = ["EscposPrinter", "PrinterSettings"]
