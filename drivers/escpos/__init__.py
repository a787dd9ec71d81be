"""ESC/POS receipt printers: the driver, real-time status decoding and document rendering.

Public API: `EscposPrinter` (the `Device`), `PrinterSettings`, `status.decode`/`RealtimeStatus`,
`document.render`.
"""

from drivers.escpos.capabilities import preload

preload()  # before anything imports escpos (its printer database only: about 1 MB)

# python-escpos' printer module (PIL, python-barcode, qrcode, pyusb, pyserial) is imported at
# the first document or pulse (drivers.escpos.document.Dummy).
from drivers.escpos.printer import EscposPrinter, PrinterSettings  # noqa: E402

__all__ = ["EscposPrinter", "PrinterSettings"]
