"""ZVT, the German ECR interface to payment terminals: codec, serial framing, links, driver.

`codec` and `framing` are pure byte functions, `messages` the commands this product speaks,
`link` moves whole APDUs over a transport, and `driver.ZvtTerminal` is the `PaymentTerminal`
the tender domain calls. The emulator that speaks the same bytes lives in
`drivers/emulators/zvt_terminal.py`; docs/zvt.md describes the subset and its byte layouts.
"""

from drivers.zvt.driver import ZvtTerminal

__all__ = ["ZvtTerminal"]
