"""`python -m drivers.emulators.zvt_terminal --port N [--serial]`: the emulator as a process.

It prints "zvt terminal emulator listening on HOST:PORT" (or the pty path) on its first line
and, with `--control-port`, "zvt terminal control on 127.0.0.1:PORT" on the second.
"""

from __future__ import annotations

import argparse
import signal
import threading

from drivers.emulators.zvt_terminal.books import OUTCOMES
from drivers.emulators.zvt_terminal.control import ControlServer
from drivers.emulators.zvt_terminal.server import ZvtTerminalEmulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ZVT payment terminal emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=20007)
    parser.add_argument("--serial", action="store_true", help="serve on a pty instead of TCP")
    parser.add_argument("--outcome", default="approve", choices=OUTCOMES)
    parser.add_argument("--delay-s", type=float, default=0.0)
    parser.add_argument("--link-down", action="store_true", help="processor link down")
    parser.add_argument("--terminal-id", default="52500001")
    parser.add_argument("--journal", help="write the journal as JSON here after each change")
    parser.add_argument("--control-port", type=int, default=None,
                        help="JSON-lines control on this loopback port (0 picks one)")
    args = parser.parse_args(argv)
    emulator = ZvtTerminalEmulator(args.host, args.port, serial=args.serial,
                                   terminal_id=args.terminal_id, journal_path=args.journal)
    emulator.set_default(args.outcome, delay_s=args.delay_s)
    if args.link_down:
        emulator.set_link(False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with emulator:
        where = emulator.serial_path if args.serial else f"{args.host}:{emulator.port}"
        print(f"zvt terminal emulator listening on {where}", flush=True)
        control = None
        if args.control_port is not None:
            control = ControlServer(emulator, args.control_port)
            print(f"zvt terminal control on 127.0.0.1:{control.port}", flush=True)
        stop.wait()
        if control is not None:
            control.close()


if __name__ == "__main__":
    main()
