"""The emulator's front: a real listening TCP socket or a pty, one session per connection.

`ZvtTerminalEmulator` runs in threads of the calling process (context manager; `port` for TCP,
`serial_path` for the pty slave that pyserial opens) and offers the control surface tests use:
`script`, `set_default`, `set_link`, `journal`, `charged_minor`.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import tty
from pathlib import Path
from typing import Self

from drivers.emulators.zvt_terminal.books import JournalEntry, TerminalState
from drivers.emulators.zvt_terminal.session import Session
from drivers.transports import ExactReads, TransportError
from drivers.zvt.link import SerialApduLink, TcpApduLink

# --- the terminal's end of real transports ---------------------------------------------------


class _SocketTransport(ExactReads):
    """An accepted TCP connection as a `Transport`."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock: socket.socket | None = sock

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def open(self) -> None:
        pass

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def write(self, data: bytes) -> None:
        if self._sock is None:
            raise TransportError("closed")
        try:
            self._sock.sendall(data)
        except OSError as exc:
            self.close()
            raise TransportError(f"send: {exc}") from exc

    def read(self, size: int, timeout_s: float) -> bytes:
        if self._sock is None:
            raise TransportError("closed")
        try:
            self._sock.settimeout(max(timeout_s, 0.001))
            data = self._sock.recv(size)
        except TimeoutError as exc:
            raise TransportError("timeout", timeout=True) from exc
        except OSError as exc:
            self.close()
            raise TransportError(f"recv: {exc}") from exc
        if not data:
            self.close()
            raise TransportError("ECR closed the connection")
        return data



class _PtyTransport(ExactReads):
    """The master side of a pty as a `Transport`; the ECR opens the slave path with pyserial."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @property
    def is_open(self) -> bool:
        return self.fd >= 0

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass  # a serial line has no connection to drop; the pty lives as long as the emulator

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except OSError as exc:
                raise TransportError(f"pty write: {exc}") from exc
            view = view[written:]

    def read(self, size: int, timeout_s: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], max(timeout_s, 0.001))
        if not ready:
            raise TransportError("timeout", timeout=True)
        try:
            return os.read(self.fd, size)
        except OSError as exc:
            raise TransportError(f"pty read: {exc}") from exc



# --- the emulator --------------------------------------------------------------------------


class ZvtTerminalEmulator:
    """A ZVT terminal on a real listening TCP socket (default) or a pty (`serial=True`).

    Use as a context manager or call `start()`/`stop()`. `port` (TCP) or `serial_path` (pty
    slave, for pyserial) says where the ECR connects.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, serial: bool = False,
                 terminal_id: str = "52500001", password: str = "000000",
                 journal_path: str | Path | None = None, busy_wait_s: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.serial = serial
        self.password = password
        self.serial_path: str | None = None
        self.state = TerminalState(terminal_id, Path(journal_path) if journal_path else None)
        self.state.busy_wait_s = busy_wait_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._conns: list[_SocketTransport] = []
        self._pty: tuple[int, int] | None = None

    # control surface
    def script(self, outcome: str, times: int = 1, **params: object) -> None:
        """Script the next `times` money commands (FIFO, before the default)."""
        self.state.script(outcome, times, **params)

    def set_default(self, outcome: str, **params: object) -> None:
        self.state.set_default(outcome, **params)

    def set_link(self, up: bool) -> None:
        """Processor link up/down; coming up forwards the stored offline payments."""
        self.state.set_link(up)

    def journal(self) -> list[JournalEntry]:
        return self.state.journal()

    def charged_minor(self, ecr_ref: str) -> int:
        """What the cards behind `ecr_ref` were charged, net of refunds and reversals."""
        return sum(e.net_minor for e in self.journal() if e.ecr_ref == ecr_ref)

    # lifecycle
    def start(self) -> ZvtTerminalEmulator:
        if self.serial:
            master, slave = os.openpty()
            tty.setraw(slave)
            self._pty = (master, slave)
            self.serial_path = os.ttyname(slave)
            self._spawn(self._serve_serial, master)
        else:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(8)
            listener.settimeout(0.2)
            self._listener = listener
            self.port = listener.getsockname()[1]
            self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        for conn in list(self._conns):
            conn.close()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._pty is not None:
            for fd in self._pty:
                os.close(fd)
            self._pty = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target, *args) -> None:  # type: ignore[no-untyped-def]
        thread = threading.Thread(target=target, args=args, daemon=True,
                                  name=f"zvt-emulator-{target.__name__}")
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            transport = _SocketTransport(sock)
            self._conns.append(transport)
            self._spawn(self._serve_tcp, transport)

    def _serve_tcp(self, transport: _SocketTransport) -> None:
        try:
            Session(self.state, TcpApduLink(transport), self._stop, self.password).run()
        finally:
            transport.close()
            if transport in self._conns:
                self._conns.remove(transport)

    def _serve_serial(self, master: int) -> None:
        link = SerialApduLink(_PtyTransport(master))
        while not self._stop.is_set():
            # The line outlives sessions: a session ends on a hang-up, the next one reads on.
            Session(self.state, link, self._stop, self.password).run()
            self._stop.wait(0.05)

