"""Which payment terminal the daemon talks to, from `[tender]` config."""

from __future__ import annotations

import logging

from edge.config import ConfigError, TenderConfig
from edge.tender.terminal_link import TerminalLink

log = logging.getLogger(__name__)


def terminal_link(cfg: TenderConfig) -> TerminalLink | None:
    """The link to the configured terminal, or None when the store has none (card tenders are
    then refused with a clear problem)."""
    if not cfg.terminal_host:
        return None
    raise ConfigError("[tender] terminal_host is set but this build has no ZVT driver "
                      "(drivers/zvt); unset it to run without card payments")
