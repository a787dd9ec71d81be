"""An ESC/POS receipt printer on a real TCP socket (port-9100 style), for tests and the demo.

It parses the byte stream the way a printer does (ESC @, text in the selected code page, ESC ! /
E / - / a styles, GS V cuts, ESC p and DLE DC4 drawer pulses, GS k barcodes, GS ( k QR codes,
raster and bit images skipped by their declared length) into a `PrintRecord`: printed lines,
cuts, drawer pulses, barcode and QR payloads. It answers DLE EOT 1/2/4 from its `PrinterState`.

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
import codecs
import json
import os
import select
import socket
import threading
import tty
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, Self

from escpos.capabilities import get_profile
from escpos.codepages import CodePages

from drivers.escpos import status as st

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10
_MAX_CONNECTIONS = 8

# Fixed parameter counts after ESC x / GS x / FS x (commands with a data block are special-cased).
_ESC_ARGS = {
    ord("!"): 1, ord("E"): 1, ord("G"): 1, ord("-"): 1, ord("a"): 1, ord("t"): 1, ord("M"): 1,
    ord("R"): 1, ord("{"): 1, ord("V"): 1, ord("2"): 0, ord("3"): 1, ord("d"): 1, ord("J"): 1,
    ord("e"): 1, ord("p"): 3, ord("="): 1, ord("c"): 2, ord(" "): 1, ord("$"): 2, ord("\\"): 2,
    ord("U"): 1, ord("r"): 1, ord("i"): 0, ord("m"): 0, ord("B"): 2, ord("L"): 0, ord("S"): 0,
    ord("T"): 1, ord("W"): 8, ord("u"): 1, ord("v"): 0, ord("%"): 1, ord("?"): 1, ord("@"): 0,
}
_GS_ARGS = {
    ord("!"): 1, ord("B"): 1, ord("H"): 1, ord("h"): 1, ord("w"): 1, ord("f"): 1, ord("L"): 2,
    ord("W"): 2, ord("P"): 2, ord("a"): 1, ord("b"): 1, ord("$"): 2, ord("\\"): 2, ord("I"): 1,
    ord("r"): 1, ord("/"): 1, ord("T"): 1, ord("^"): 3, ord(":"): 0,
}
_FS_ARGS = {ord("p"): 2, ord("."): 0, ord("&"): 0, ord("C"): 1, ord("!"): 1, ord("-"): 1,
            ord("S"): 2, ord("W"): 1}
_BARCODE_NAMES = {0: "UPC-A", 1: "UPC-E", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF",
                  6: "NW7", 65: "UPC-A", 66: "UPC-E", 67: "EAN13", 68: "EAN8", 69: "CODE39",
                  70: "ITF", 71: "NW7", 72: "CODE93", 73: "CODE128", 74: "GS1-128"}


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
class PrintedLine:
    text: str
    align: str = "left"
    bold: bool = False
    underline: bool = False
    double_height: bool = False
    double_width: bool = False


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


class _Incomplete(Exception):
    """The command at the cursor needs more bytes than have arrived."""


@dataclass
class _Style:
    align: str = "left"
    bold: bool = False
    underline: bool = False
    double_height: bool = False
    double_width: bool = False
    codec: str = "cp437"


Effect = tuple[str, Any]  # ("line", PrintedLine) | ("cut", mode) | ("pulse", {...}) | ...
Realtime = tuple[str, Any]  # ("status", n) | ("pulse", {...})


class EscposStream:
    """Incremental ESC/POS parser of one connection: bytes in, effects and real-time requests
    out. Commands split across TCP segments wait for their remaining bytes."""

    def __init__(self, profile: str = "TM-T88V") -> None:
        self._buf = bytearray()
        self._style = _Style()
        self._text = bytearray()  # bytes of the current line not yet decoded
        self._line = ""  # decoded part of the current line (code pages may change mid-line)
        self._qr_data = ""
        self._pages = {int(v): k for k, v in get_profile(profile).get_code_pages().items()}

    def feed(self, data: bytes) -> tuple[list[Realtime], list[Effect]]:
        self._buf += data
        realtime: list[Realtime] = []
        effects: list[Effect] = []
        pos = 0
        while pos < len(self._buf):
            try:
                pos = self._one(pos, realtime, effects)
            except _Incomplete:
                break
        del self._buf[:pos]
        return realtime, effects

    def _need(self, pos: int, count: int) -> bytes:
        if pos + count > len(self._buf):
            raise _Incomplete
        return bytes(self._buf[pos:pos + count])

    def _decode_pending(self) -> None:
        if self._text:
            self._line += codecs.decode(bytes(self._text), self._style.codec, errors="replace")
            self._text.clear()

    def _flush_line(self, effects: list[Effect]) -> None:
        s = self._style
        self._decode_pending()
        text, self._line = self._line, ""
        effects.append(("line", PrintedLine(text, s.align, s.bold, s.underline,
                                            s.double_height, s.double_width)))

    def _one(self, pos: int, rt: list[Realtime], fx: list[Effect]) -> int:
        b = self._buf[pos]
        if b >= 0x20:
            self._text.append(b)
            return pos + 1
        if b == 0x0A:
            self._flush_line(fx)
            return pos + 1
        if b == 0x09:
            self._text += b"    "
            return pos + 1
        if b == DLE:
            return self._dle(pos, rt, fx)
        if b == ESC:
            return self._esc(pos, fx)
        if b == GS:
            return self._gs(pos, fx)
        if b == FS:
            cmd = self._need(pos + 1, 1)[0]
            if cmd == ord("("):
                p_l, p_h = self._need(pos + 2, 2)
                return pos + 4 + p_l + p_h * 256
            if cmd not in _FS_ARGS:
                fx.append(("unknown", cmd))
            return pos + 2 + _FS_ARGS.get(cmd, 0)
        return pos + 1  # CR, FF, NUL, BEL and other controls print nothing here

    def _dle(self, pos: int, rt: list[Realtime], fx: list[Effect]) -> int:
        cmd = self._need(pos + 1, 1)[0]
        if cmd == 0x04:  # EOT n: transmit real-time status
            rt.append(("status", self._need(pos + 2, 1)[0]))
            return pos + 3
        if cmd == 0x14:  # DC4 fn m t: real-time pulse when fn = 1
            fn, m, t = self._need(pos + 2, 3)
            if fn == 1:
                rt.append(("pulse", {"pin": 2 if m == 0 else 5, "on_ms": t * 100,
                                     "realtime": True}))
            return pos + 5
        if cmd == 0x05:  # ENQ n: real-time request (error recovery); nothing to emulate
            return pos + 3
        fx.append(("unknown", cmd))
        return pos + 1

    def _esc(self, pos: int, fx: list[Effect]) -> int:
        cmd = self._need(pos + 1, 1)[0]
        s = self._style
        if cmd == ord("D"):  # tab positions, NUL-terminated
            end = self._buf.find(0, pos + 2)
            if end < 0:
                raise _Incomplete
            return end + 1
        if cmd == ord("*"):  # bit image: m nL nH then n (8-dot) or 3n (24-dot) columns
            m, n_l, n_h = self._need(pos + 2, 3)
            size = (n_l + n_h * 256) * (3 if m in (32, 33) else 1)
            self._need(pos + 5, size)
            fx.append(("image", size))
            return pos + 5 + size
        if cmd not in _ESC_ARGS:
            fx.append(("unknown", cmd))
            return pos + 2
        args = self._need(pos + 2, _ESC_ARGS[cmd])
        end = pos + 2 + len(args)
        if cmd == ord("@"):
            self._text.clear()
            self._line = ""
            self._style = _Style()
        elif cmd == ord("!"):
            mode = args[0]
            s.bold, s.double_height = bool(mode & 0x08), bool(mode & 0x10)
            s.double_width, s.underline = bool(mode & 0x20), bool(mode & 0x80)
        elif cmd in (ord("E"), ord("G")):
            s.bold = bool(args[0] & 1)
        elif cmd == ord("-"):
            s.underline = args[0] in (1, 2, 49, 50)
        elif cmd == ord("a"):
            s.align = {0: "left", 48: "left", 1: "center", 49: "center", 2: "right",
                       50: "right"}.get(args[0], s.align)
        elif cmd == ord("t"):
            self._decode_pending()
            s.codec = self._codec(args[0])
        elif cmd == ord("d"):
            if self._text or self._line:
                self._flush_line(fx)
            for _ in range(args[0]):
                self._flush_line(fx)
        elif cmd == ord("p"):
            fx.append(("pulse", {"pin": 2 if args[0] in (0, 48) else 5, "on_ms": args[1] * 2,
                                 "realtime": False}))
        elif cmd in (ord("i"), ord("m")):
            fx.append(("cut", "partial"))
        return end

    def _codec(self, page: int) -> str:
        name = self._pages.get(page)
        try:
            python = CodePages.get_encoding(name).get("python_encode") if name else None
        except KeyError:
            python = None
        return python or "cp437"

    def _gs(self, pos: int, fx: list[Effect]) -> int:
        cmd = self._need(pos + 1, 1)[0]
        if cmd == ord("V"):
            m = self._need(pos + 2, 1)[0]
            fx.append(("cut", "full" if m in (0, 48, 65, 97, 103) else "partial"))
            return pos + 3 + (1 if m in (65, 66, 97, 98, 103, 104) else 0)
        if cmd == ord("k"):
            return self._barcode(pos, fx)
        if cmd == ord("("):
            fn_class = self._need(pos + 2, 1)[0]
            p_l, p_h = self._need(pos + 3, 2)
            body = self._need(pos + 5, p_l + p_h * 256)
            if fn_class == ord("k") and len(body) >= 2 and body[0] == 49:  # cn 49: QR code
                if body[1] == 80:  # store data (m = 48, then the data)
                    self._qr_data = body[3:].decode("utf-8", errors="replace")
                elif body[1] == 81:  # print the stored symbol
                    fx.append(("qr", self._qr_data))
            return pos + 5 + len(body)
        if cmd == ord("8"):  # GS 8 L p1..p4: graphics data with a 4-byte length
            p = self._need(pos + 3, 4)
            size = p[0] + (p[1] << 8) + (p[2] << 16) + (p[3] << 24)
            self._need(pos + 7, size)
            fx.append(("image", size))
            return pos + 7 + size
        if cmd == ord("v"):  # GS v 0 m xL xH yL yH d...: raster image, x bytes by y dots
            _, _, x_l, x_h, y_l, y_h = self._need(pos + 2, 6)
            size = (x_l + x_h * 256) * (y_l + y_h * 256)
            self._need(pos + 8, size)
            fx.append(("image", size))
            return pos + 8 + size
        if cmd == ord("*"):  # GS * x y: define downloaded bit image, x*y*8 bytes
            x, y = self._need(pos + 2, 2)
            self._need(pos + 4, x * y * 8)
            return pos + 4 + x * y * 8
        if cmd not in _GS_ARGS:
            fx.append(("unknown", cmd))
            return pos + 2
        return pos + 2 + len(self._need(pos + 2, _GS_ARGS[cmd]))

    def _barcode(self, pos: int, fx: list[Effect]) -> int:
        m = self._need(pos + 2, 1)[0]
        if m <= 6:  # function A: data up to NUL
            end = self._buf.find(0, pos + 3)
            if end < 0:
                raise _Incomplete
            data, nxt = bytes(self._buf[pos + 3:end]), end + 1
        else:  # function B: a length byte, then the data
            n = self._need(pos + 3, 1)[0]
            data, nxt = self._need(pos + 4, n), pos + 4 + n
        text = data.decode("ascii", errors="replace")
        if m == 73 and text[:2] in ("{A", "{B", "{C"):
            text = text[2:]  # CODE128 code-set selector, not part of the payload
        fx.append(("barcode", {"symbology": _BARCODE_NAMES.get(m, str(m)), "data": text}))
        return nxt


class EscposPrinterEmulator:
    """A listening ESC/POS printer. Use as a context manager; `port` is bound on entry."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, control_port: int | None = 0,
                 profile: str = "TM-T88V", on_error: Literal["hold", "discard"] = "hold",
                 drawer_open_when_high: bool = False, paper_roll: Path | None = None,
                 drawer_auto_close_s: float | None = None) -> None:
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
        self._sock = self._listen(host, port)
        self.port: int = self._sock.getsockname()[1]
        self._control = self._listen(host, control_port) if control_port is not None else None
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ESC/POS printer emulator on TCP")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--on-error", choices=("hold", "discard"), default="hold")
    parser.add_argument("--drawer-auto-close-s", type=float, default=None)
    args = parser.parse_args(argv)
    emu = EscposPrinterEmulator(args.host, args.port, control_port=args.control_port,
                                on_error=args.on_error,
                                drawer_auto_close_s=args.drawer_auto_close_s)
    with emu:
        # One line a parent process can parse to find both ports.
        print(json.dumps({"port": emu.port, "control_port": emu.control_port}), flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
