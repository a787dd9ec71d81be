"""`python -m tests.support.clocked_serve serve ...`: the real `novapos-edge` CLI in this
process, with one difference: the store's clock is the system clock plus an offset the test
moves (acceptance tests that need days to pass in a real daemon process: a return outside the
window). The offset, in milliseconds, is read from the file named by NOVAPOS_TEST_CLOCK_FILE
at every reading; the test rewrites it atomically (`DaemonProcess.advance_clock`) and only
forward, so the store's time never runs backwards.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.clock import SystemClock
from edge import cli, compose

CLOCK_FILE_ENV = "NOVAPOS_TEST_CLOCK_FILE"


class OffsetClock:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._system = SystemClock()

    def now_ms(self) -> int:
        try:
            offset = int(self._path.read_text() or "0")
        except FileNotFoundError:
            offset = 0
        return self._system.now_ms() + offset


def main() -> None:
    clock = OffsetClock(Path(os.environ[CLOCK_FILE_ENV]))
    composed = compose.compose

    def with_clock(data_dir, config, clock_=None):
        return composed(data_dir, config, clock_ or clock)

    compose.compose = with_clock  # `serve` looks it up when it runs
    cli.main()


if __name__ == "__main__":
    main()
