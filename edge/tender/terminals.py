"""Which payment terminal the daemon talks to, from `[tender]` config: a ZVT terminal over TCP
(drivers/zvt), or none (card tenders are then refused with a clear problem)."""

from __future__ import annotations

from drivers.device import StatisticsSink
from edge.config import TenderConfig
from edge.tender.terminal_link import TerminalLink
from schemas.devices import DeviceAddress

TERMINAL_DEVICE_ID = "payment-terminal"


def terminal_link(cfg: TenderConfig, currency: str = "EUR",
                  statistics: StatisticsSink | None = None) -> TerminalLink | None:
    """The link to the configured terminal. Its driver is built once and reused after a dropped
    link (it reconnects on its next call): the device registry shares that object, and counts
    go to `statistics` (the daemon's persisted sink)."""
    if not cfg.terminal_host:
        return None
    from drivers.zvt import ZvtTerminal  # only stores with a terminal load the driver

    address = DeviceAddress(transport="tcp", host=cfg.terminal_host, port=cfg.terminal_port)
    terminal = ZvtTerminal(
        TERMINAL_DEVICE_ID, address, statistics=statistics, password=cfg.terminal_password,
        currency=currency, ack_timeout_s=cfg.terminal_connect_timeout_s,
        max_transaction_s=max(cfg.terminal_transaction_timeout_s, 1.0),
    )
    return TerminalLink(lambda: terminal, f"zvt:{cfg.terminal_host}:{cfg.terminal_port}",
                        device=terminal)
