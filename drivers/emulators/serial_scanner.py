"""A serial barcode scanner on a real pty.

`os.openpty()` gives a master/slave pair; the driver opens the slave by path with pyserial,
exactly as it opens `/dev/ttyACM0`, and the emulator writes what a scanner sends to the master:
an optional AIM prefix, the code, the suffix. `link` makes the port appear under a chosen path
(a symlink, e.g. matching a configured glob) and `unplug` makes it vanish again, which is how
tests drive hot-plug.
"""

from __future__ import annotations

import os
import tty
from pathlib import Path
from typing import Self

from drivers.scanners import serial_codec


class SerialScannerEmulator:
    def __init__(self, link: Path | str | None = None, *, aim: str | None = "]E0",
                 suffix: str = "cr") -> None:
        self.aim = aim
        self.suffix = serial_codec.suffix_bytes(suffix)
        self._master, slave = os.openpty()
        # Raw mode on the slave before any reader opens it: a cooked line discipline would
        # turn the CR suffix into LF and hold input until a newline.
        tty.setraw(slave)
        self.slave_path = os.ttyname(slave)
        # Keep the slave open ourselves so the pty survives readers closing and reopening it.
        self._slave = slave
        self.link: Path | None = None
        if link is not None:
            self.plug(link)

    @property
    def path(self) -> str:
        """The path a driver should open: the link when plugged in, else the pty itself."""
        return str(self.link) if self.link is not None else self.slave_path

    def plug(self, link: Path | str) -> None:
        link = Path(link)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(self.slave_path)
        self.link = link

    def unplug(self) -> None:
        """The port disappears from its path (discovery then detaches it)."""
        if self.link is not None:
            self.link.unlink(missing_ok=True)
            self.link = None

    def hang_up(self) -> None:
        """The far end goes away but the port node stays (a scanner's cable pulled from a USB
        serial adapter that stays plugged in): reads on the port fail from now on."""
        if self._master >= 0:
            os.close(self._master)
            self._master = -1

    def scan(self, code: str, *, aim: str | None = ..., raw: bytes | None = None) -> None:  # type: ignore[assignment]
        prefix = self.aim if aim is ... else aim
        data = raw if raw is not None else serial_codec.encode(code, aim=prefix, suffix=self.suffix)
        os.write(self._master, data)

    def close(self) -> None:
        self.unplug()
        for fd in (self._master, self._slave):
            if fd < 0:
                continue
            try:
                os.close(fd)
            except OSError:
                pass
        self._master = self._slave = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
