from __future__ import annotations

from collections.abc import Iterator

import pytest

from drivers.emulators.zvt_terminal import ZvtTerminalEmulator
from drivers.zvt import ZvtTerminal
from schemas.devices import DeviceAddress


@pytest.fixture
def emulator() -> Iterator[ZvtTerminalEmulator]:
    with ZvtTerminalEmulator() as emu:
        yield emu


@pytest.fixture
def terminal(emulator: ZvtTerminalEmulator) -> Iterator[ZvtTerminal]:
    term = ZvtTerminal("lane-1-terminal", DeviceAddress("tcp", host="127.0.0.1",
                                                        port=emulator.port),
                       ack_timeout_s=3.0)
    term.open()
    try:
        yield term
    finally:
        term.close()
