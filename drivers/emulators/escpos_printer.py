"""An ESC/POS receipt printer on a real TCP socket (port-9100 style), for tests and the demo.

It parses the byte stream the way a printer does (`escpos_stream.EscposStream`) into a
`PrintRecord`: printed lines with their style, cuts, drawer pulses, barcode and QR payloads.
It answers DLE EOT 1/2/4 from its `PrinterState`.

Behaviour in error (documented contract, asserted by tests):
- paper out, cover open or error: the printer stops, like a real one. Real-time commands
  (DLE EOT, DLE DC4) are still executed; everything else is HELD in the receive buffer and
  printed when the error clears (`on_error="hold"`, what Epson printers do), or dropped and
  counted (`on_error="discard"`). Hold is the default because it exposes a host that sends
  during an error and later re-sends: the receipt would then print twice.
- offline: the printer is silent: no status answers, received data is dropped.

The same printer is reachable on a pty (`open_pty`) for serial tests.

Control, in process: `emu.set_state(paper_out=True)`, `emu.record`. Out of process: a second
TCP port (`control_port`) takes one JSON object per line — `{"op": "set", "paper_out": true}`,
`{"op": "record"}`, `{"op": "clear"}` — and answers one JSON line; `EmulatorControl` is its
client. `python -m drivers.emulators.escpos_printer --port 9100 --control-port 9101` runs it.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import select
import signal
import socket
import threading
import tty
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, Self

from drivers.emulators.escpos_stream import Effect, EscposStream, PrintedLine, Realtime
from drivers.escpos import status as st

__all__ = ["EmulatorControl", "EscposPrinterEmulator", "EscposStream", "PrintRecord",
           "PrintedLine", "PrinterState"]

_MAX_CONNECTIONS = 8


@dataclass(frozen=True)
class PrinterState:
    paper_out: bool = False
    paper_near_end: bool = False
    cover_open: bool = False
    error: bool = False
    offline: bool = False
    drawer_open: bool = False

    @property
    def stopped(self) -> bool:
        return self.paper_out or self.cover_open or self.error


@dataclass
class PrintRecord:
    """What the emulated printer has physically done since it started (or was cleared)."""

    lines: list[PrintedLine] = field(default_factory=list)
    cuts: list[str] = field(default_factory=list)
    pulses: list[dict[str, Any]] = field(default_factory=list)
    barcodes: list[dict[str, str]] = field(default_factory=list)
    qr_codes: list[str] = field(default_factory=list)
    images: int = 0
    status_queries: int = 0
    bytes_received: int = 0
    discarded_bytes: int = 0
    unknown_commands: int = 0
    # Index into `lines` at each cut: receipts are the spans between cuts.
    cut_at_line: list[int] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(ln.text for ln in self.lines)

    def receipts(self) -> list[str]:
        """The text of each cut-off piece of paper, in order."""
        out, start = [], 0
        for end in self.cut_at_line:
            out.append("\n".join(ln.text for ln in self.lines[start:end]))
            start = end
        return out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> PrintRecord:
        raw = dict(raw)
        raw["lines"] = [PrintedLine(**ln) for ln in raw["lines"]]
        return cls(**raw)


class EscposPrinterEmulator:
    """A listening ESC/POS printer. Use as a context manager; `port` is bound on entry."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, control_port: int | None = 0,
                 profile: str = "TM-T88V", on_error: Literal["hold", "discard"] = "hold",
                 drawer_open_when_high: bool = False, paper_roll: Path | None = None,
                 drawer_auto_close_s: float | None = None,
                 listeners: tuple[socket.socket, socket.socket | None] | None = None) -> None:
        self.host = host
        # None: a kicked drawer stays open until `set_state(drawer_open=False)`, as when the
        # cashier leaves it open; a number: the cashier shuts it after that many seconds.
        self.drawer_auto_close_s = drawer_auto_close_s
        # Optional text file the printed lines are appended to, like the paper roll (demo).
        self.paper_roll = paper_roll
        self.profile = profile
        self.on_error = on_error
        self.drawer_open_when_high = drawer_open_when_high
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._state = PrinterState()
        self._record = PrintRecord()
        self._held: list[Effect] = []
        self._stop = threading.Event()
        if listeners is not None:  # bound by a parent process (see `main`'s --listen-fd)
            self._sock, self._control = listeners
            for sock in filter(None, listeners):
                sock.settimeout(0.2)
        else:
            self._sock = self._listen(host, port)
            self._control = self._listen(host, control_port) if control_port is not None else None
        self.port: int = self._sock.getsockname()[1]
        self.control_port: int | None = (
            self._control.getsockname()[1] if self._control is not None else None
        )
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._ptys: list[tuple[int, int]] = []

    @staticmethod
    def _listen(host: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_MAX_CONNECTIONS)
        sock.settimeout(0.2)
        return sock

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> EscposPrinterEmulator:
        self._spawn(self._accept_loop, self._sock, self._serve_printer, "escpos-emulator")
        if self._control is not None:
            self._spawn(self._accept_loop, self._control, self._serve_control, "escpos-control")
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=5)
        self._sock.close()
        if self._control is not None:
            self._control.close()
        for master, slave in self._ptys:
            os.close(master)
            os.close(slave)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, fn, *args: Any) -> None:
        t = threading.Thread(target=fn, args=args[:-1], name=args[-1], daemon=True)
        self._threads.append(t)
        t.start()

    # --- in-process control ----------------------------------------------------------------

    @property
    def state(self) -> PrinterState:
        with self._lock:
            return self._state

    def set_state(self, **changes: bool) -> PrinterState:
        with self._lock:
            self._state = replace(self._state, **changes)
            if not self._state.stopped and not self._state.offline and self._held:
                held, self._held = self._held, []
                for effect in held:
                    self._apply(effect)
            return self._state

    @property
    def record(self) -> PrintRecord:
        with self._lock:
            return PrintRecord.from_json(self._record.to_json())

    def wait_for(self, predicate: Callable[[PrintRecord], bool], timeout_s: float = 10.0,
                 ) -> PrintRecord:
        """Block until the record satisfies `predicate` (data arrives asynchronously);
        raises TimeoutError with the record seen last."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self._record), timeout_s):
                raise TimeoutError(f"emulator record never matched: {self._record}")
            return PrintRecord.from_json(self._record.to_json())

    def clear(self) -> None:
        with self._lock:
            self._record = PrintRecord()
            self._held = []

    # --- the printer side ------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket, handler) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.add(conn)
            t = threading.Thread(target=self._guard, args=(handler, conn), daemon=True)
            self._threads.append(t)
            t.start()

    def _guard(self, handler, conn: socket.socket) -> None:
        try:
            conn.settimeout(0.2)
            handler(conn)
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def _serve_printer(self, conn: socket.socket) -> None:
        stream = EscposStream(self.profile)
        while not self._stop.is_set():
            try:
                data = conn.recv(65_536)
            except TimeoutError:
                continue
            if not data:
                return
            realtime, effects = stream.feed(data)
            answers = self._take(len(data), realtime, effects)
            if answers:
                conn.sendall(answers)

    def open_pty(self) -> str:
        """The same printer on a serial line: a real pty whose slave path a driver opens with
        pyserial, as it would /dev/ttyS0 or a USB CDC-ACM port. Returns that path."""
        master, slave = os.openpty()
        tty.setraw(slave)
        path = os.ttyname(slave)
        self._ptys.append((master, slave))
        t = threading.Thread(target=self._serve_pty, args=(master,), name="escpos-pty",
                             daemon=True)
        self._threads.append(t)
        t.start()
        return path

    def _serve_pty(self, master: int) -> None:
        stream = EscposStream(self.profile)
        while not self._stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                continue
            try:
                data = os.read(master, 65_536)
            except OSError:  # the slave side was closed for good
                return
            realtime, effects = stream.feed(data)
            answers = self._take(len(data), realtime, effects)
            if answers:
                os.write(master, answers)

    def _take(self, size: int, realtime: list[Realtime], effects: list[Effect]) -> bytes:
        with self._lock:
            state = self._state
            self._record.bytes_received += size
            if state.offline:
                self._record.discarded_bytes += size
                return b""
            answers = bytearray()
            for kind, arg in realtime:
                if kind == "status":
                    self._record.status_queries += 1
                    answers.append(self._status_byte(state, arg))
                else:
                    self._apply((kind, arg))
            if state.stopped:
                if self.on_error == "hold":
                    self._held.extend(effects)
                else:
                    self._record.discarded_bytes += size
            else:
                for effect in effects:
                    self._apply(effect)
            return bytes(answers)

    def _status_byte(self, state: PrinterState, n: int) -> int:
        pin3_high = state.drawer_open == self.drawer_open_when_high
        table = st.encode(offline=state.offline, pin3_high=pin3_high,
                          cover_open=state.cover_open, paper_out=state.paper_out,
                          paper_near_end=state.paper_near_end, error=state.error)
        return table.get(n, 0x12)  # n=3 and others: a status byte with no error bits

    def _apply(self, effect: Effect) -> None:
        kind, arg = effect
        rec = self._record
        self._changed.notify_all()
        if kind == "line":
            rec.lines.append(arg)
            self._roll(arg.text + "\n")
        elif kind == "cut":
            rec.cuts.append(arg)
            self._roll("-" * 20 + " cut " + "-" * 20 + "\n")
            rec.cut_at_line.append(len(rec.lines))
        elif kind == "pulse":
            rec.pulses.append(arg)
            # The solenoid releases the drawer: it stays open until someone closes it.
            self._state = replace(self._state, drawer_open=True)
            if self.drawer_auto_close_s is not None:
                timer = threading.Timer(self.drawer_auto_close_s, self.set_state,
                                        kwargs={"drawer_open": False})
                timer.daemon = True
                timer.start()
        elif kind == "barcode":
            rec.barcodes.append(arg)
        elif kind == "qr":
            rec.qr_codes.append(arg)
        elif kind == "image":
            rec.images += 1
        elif kind == "unknown":
            rec.unknown_commands += 1

    def _roll(self, text: str) -> None:
        if self.paper_roll is not None:
            with self.paper_roll.open("a", encoding="utf-8") as roll:
                roll.write(text)

    # --- the control side ------------------------------------------------------------------

    def _serve_control(self, conn: socket.socket) -> None:
        # Blocking reads: `stop` shuts the socket down, which ends readline.
        conn.settimeout(None)
        reader = conn.makefile("rb")
        while not self._stop.is_set():
            line = reader.readline()
            if not line:
                return
            conn.sendall(json.dumps(self.control(json.loads(line))).encode() + b"\n")

    def control(self, command: dict[str, Any]) -> dict[str, Any]:
        """One control command (the JSON protocol of the control port)."""
        op = command.get("op")
        if op == "set":
            names = {f.name for f in fields(PrinterState)}
            changes = {k: bool(v) for k, v in command.items() if k in names}
            return {"ok": True, "state": asdict(self.set_state(**changes))}
        if op == "record":
            return {"ok": True, "record": self.record.to_json(), "state": asdict(self.state)}
        if op == "clear":
            self.clear()
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}


class EmulatorControl:
    """Client of an emulator's control port, for tests and tools in another process."""

    def __init__(self, host: str, port: int, timeout_s: float = 5.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s

    def _call(self, command: dict[str, Any]) -> dict[str, Any]:
        with socket.create_connection((self.host, self.port), self.timeout_s) as sock:
            sock.sendall(json.dumps(command).encode() + b"\n")
            answer = sock.makefile("rb").readline()
        reply = json.loads(answer)
        if not reply.get("ok"):
            raise RuntimeError(reply.get("error", "emulator refused the command"))
        return reply

    def set_state(self, **changes: bool) -> PrinterState:
        return PrinterState(**self._call({"op": "set", **changes})["state"])

    def record(self) -> PrintRecord:
        return PrintRecord.from_json(self._call({"op": "record"})["record"])

    def clear(self) -> None:
        self._call({"op": "clear"})


def _die_with_parent(parent_pid: int) -> None:
    # SIGTERM when the parent goes, kill -9 included (Linux); if it went already, go now.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ESC/POS printer emulator on TCP")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--on-error", choices=("hold", "discard"), default="hold")
    parser.add_argument("--drawer-auto-close-s", type=float, default=None)
    parser.add_argument("--paper-roll", type=Path, default=None,
                        help="append the printed text lines to this file")
    parser.add_argument("--listen-fd", type=int, default=None,
                        help="serve on this inherited listening socket instead of --port")
    parser.add_argument("--control-fd", type=int, default=None,
                        help="the control port's inherited listening socket")
    parser.add_argument("--parent-pid", type=int, default=None,
                        help="exit when this process (our parent) does, however it ends")
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        _die_with_parent(args.parent_pid)
    listeners = None
    if args.listen_fd is not None:
        control = socket.socket(fileno=args.control_fd) if args.control_fd is not None else None
        listeners = (socket.socket(fileno=args.listen_fd), control)
    emu = EscposPrinterEmulator(args.host, args.port, control_port=args.control_port,
                                on_error=args.on_error,
                                drawer_auto_close_s=args.drawer_auto_close_s,
                                paper_roll=args.paper_roll, listeners=listeners)
    with emu:
        # One line a parent process can parse to find both ports.
        print(json.dumps({"port": emu.port, "control_port": emu.control_port}), flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
