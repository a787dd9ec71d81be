"""Demo mode's payment terminal: `serve --demo` on a store with no terminal configured starts
the ZVT terminal emulator in-process (real TCP on loopback, approves every card, keeps its
journal in the data dir) and points `[tender]` at it, so the demo takes cards."""

from __future__ import annotations

from pathlib import Path

import msgspec

from drivers.emulators.zvt_terminal import ZvtTerminalEmulator
from edge.service import StoreService

JOURNAL_FILENAME = "demo-terminal-journal.json"


def start_demo_terminal(service: StoreService, data_dir: Path) -> ZvtTerminalEmulator | None:
    """Start the emulator unless a real terminal is configured; call before the app is built."""
    cfg = service.config
    if cfg.tender.terminal_host:
        return None
    emulator = ZvtTerminalEmulator("127.0.0.1", 0, journal_path=data_dir / JOURNAL_FILENAME)
    emulator.start()
    tender = msgspec.structs.replace(cfg.tender, terminal_host="127.0.0.1",
                                     terminal_port=emulator.port)
    service.config = msgspec.structs.replace(cfg, tender=tender)
    return emulator
